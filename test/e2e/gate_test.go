//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kestra-guard/kestra-guard/internal/gatewatch"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// burst is how many task Pods the first-instruction case starts at once.
const burst = 20

// Case 7: from the first instruction. A burst of task Pods whose command's
// first action is one request to the fake metadata server: in the enforce
// runner namespace none reaches it, in every Pod, on that one attempt (the
// start gate held each task until the enforcer blocked it); in the plain
// namespace every one reaches it on its first attempt (the probe is fast
// enough to win the race the gate closes). The time from creation to the
// first line of the task, with and without the gate, is logged.
func TestFirstInstruction(t *testing.T) {
	gated := startBurst(t, runnerNS, "blocked")
	ungated := startBurst(t, plainNS, "reached")
	gatedTimes := finishBurst(t, runnerNS, "blocked", gated)
	ungatedTimes := finishBurst(t, plainNS, "reached", ungated)
	t.Logf("first-instruction: %d Pods each; creation to the task's first line: with the gate p50 %.2fs p95 %.2fs max %.2fs; without (unguarded namespace) p50 %.2fs p95 %.2fs max %.2fs",
		burst, quantile(gatedTimes, 0.5), quantile(gatedTimes, 0.95), quantile(gatedTimes, 1), quantile(ungatedTimes, 0.5), quantile(ungatedTimes, 0.95), quantile(ungatedTimes, 1))
}

type started struct {
	name    string
	created float64 // host uptime at creation
}

// startBurst creates burst probe Pods at once in ns.
func startBurst(t *testing.T, ns, expect string) []started {
	t.Helper()
	out := make([]started, burst)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := probePod("metadata", expect)
			out[i].created = uptime(t)
			out[i].name = create(t, ns, p).Name
		}()
	}
	wg.Wait()
	return out
}

// finishBurst checks every probe's one attempt and returns, per Pod, the
// seconds from creation to the task's first line.
func finishBurst(t *testing.T, ns, expect string, pods []started) []float64 {
	t.Helper()
	var times []float64
	reached := 0
	for _, p := range pods {
		code, msg := terminated(t, ns, p.name, "main", 5*time.Minute)
		verdict, rest, _ := strings.Cut(msg, " metadata at ")
		if verdict == "reached" {
			reached++
		}
		if code != 0 || verdict != expect {
			t.Errorf("%s/%s: exit %d, %q; want %s on the first attempt", ns, p.name, code, msg, expect)
			continue
		}
		at, _, _ := strings.Cut(rest, ":")
		t0, err := strconv.ParseFloat(at, 64)
		if err != nil {
			t.Errorf("%s/%s: no start time in %q", ns, p.name, msg)
			continue
		}
		times = append(times, t0-p.created)
	}
	t.Logf("%s: %d of %d first attempts reached the fake metadata server", ns, reached, len(pods))
	return times
}

// uptime is the host's uptime in seconds: the probes read the same clock
// (/proc/uptime is not namespaced).
func uptime(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

// Case 8: with the enforcer off (kube-router stopped and its rules flushed,
// for this node), a guarded task's command never runs: the gate fails with a
// message naming the fake metadata endpoint and saying that NetworkPolicy is
// not enforced, and main has no state at all. Once the enforcer is back, a
// new task runs, and its first attempt is blocked.
func TestEnforcerOff(t *testing.T) {
	kr := stopKubeRouter(t)
	p := create(t, runnerNS, taskPod("enforcer-off", []string{"sh", "-c", "echo task-ran > /dev/termination-log"}))
	code, msg := terminated(t, runnerNS, p.Name, policy.GateContainerName, gateTimeout+2*time.Minute)
	t.Logf("gate: exit %d, %q", code, msg)
	if code == 0 || !strings.Contains(msg, env.metaIP+":80 (reached") || !strings.Contains(msg, "NetworkPolicy is not enforced") {
		t.Errorf("gate with the enforcer off: exit %d, %q; want a failure naming %s:80 and NetworkPolicy", code, msg, env.metaIP)
	}
	// The kubelet marks the Pod Failed shortly after its init container.
	var got *corev1.Pod
	err := poll(context.Background(), time.Minute, func() (bool, error) {
		var err error
		got, err = cs.CoreV1().Pods(runnerNS).Get(context.Background(), p.Name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodFailed, nil
	})
	if err != nil {
		t.Errorf("Pod %s not Failed: %v; status: %s", p.Name, err, podStatus(got))
	}
	for _, s := range got.Status.ContainerStatuses {
		if s.Name == "main" && (s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil) {
			t.Errorf("main ran with the enforcer off: %+v", s)
		}
	}
	// kestra-guard's leader says so on the Pod (an Event is allowed to lag).
	var note string
	if err := poll(context.Background(), time.Minute, func() (bool, error) {
		evs, err := cs.EventsV1().Events(runnerNS).List(context.Background(), metav1.ListOptions{FieldSelector: "regarding.name=" + p.Name})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if e.Reason == gatewatch.Reason && e.Type == corev1.EventTypeWarning {
				note = e.Note
				return true, nil
			}
		}
		return false, nil
	}); err != nil || !strings.Contains(note, env.metaIP+":80") {
		t.Errorf("no Warning %s Event naming %s:80 on Pod %s: %v %q", gatewatch.Reason, env.metaIP, p.Name, err, note)
	} else {
		t.Logf("event: %s", note)
	}
	kr.restart(t)
	runProbes(t, []probe{{runnerNS, "metadata", "blocked", "blocked metadata at ", ""}})
}

// kubeRouter is the node's kube-router, as run.sh started it.
type kubeRouter struct {
	args    []string
	pidFile string
	stopped bool
}

// stopKubeRouter kills kube-router and flushes its filter chains, so that
// no NetworkPolicy is enforced on the node; t.Cleanup starts it again if
// the test did not.
func stopKubeRouter(t *testing.T) *kubeRouter {
	t.Helper()
	kr := &kubeRouter{pidFile: filepath.Join(env.state, "pids", "kube-router")}
	b, err := os.ReadFile(kr.pidFile)
	if err != nil {
		t.Fatalf("kube-router's pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("kube-router (pid %d) does not run: %v", pid, err)
	}
	kr.args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if !strings.HasSuffix(kr.args[0], "kube-router") {
		t.Fatalf("pid %d runs %q, not kube-router", pid, kr.args[0])
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("stopping kube-router: %v", err)
	}
	for i := 0; i < 50; i++ {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	kr.stopped = true
	t.Cleanup(func() {
		if kr.stopped {
			kr.restart(t)
		}
	})
	out, err := exec.Command("iptables-save", "-t", "filter").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	var flushed []string
	for _, line := range strings.Split(string(out), "\n") {
		if chain, ok := strings.CutPrefix(line, ":"); ok {
			chain, _, _ = strings.Cut(chain, " ")
			if strings.HasPrefix(chain, "KUBE-ROUTER-") {
				if out, err := exec.Command("iptables", "-w", "10", "-t", "filter", "-F", chain).CombinedOutput(); err != nil {
					t.Fatalf("flushing %s: %v: %s", chain, err, out)
				}
				flushed = append(flushed, chain)
			}
		}
	}
	if len(flushed) == 0 {
		t.Fatal("no KUBE-ROUTER- chain to flush: the enforcer's rules are not where this test looks")
	}
	t.Logf("kube-router (pid %d) stopped; flushed %v", pid, flushed)
	return kr
}

// restart starts kube-router again with its arguments, logging where run.sh
// logs it, and records its pid for run.sh's teardown.
func (kr *kubeRouter) restart(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(env.state, "logs", "kube-router.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(kr.args[0], kr.args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kube-router again: %v", err)
	}
	if err := os.WriteFile(kr.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	kr.stopped = false
	t.Logf("kube-router started again (pid %d)", cmd.Process.Pid)
}

// netpolAdmin is a user with every right on NetworkPolicies in runnerNS
// (and nothing else).
func netpolAdmin(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	ctx := context.Background()
	const name = "kg-e2e-netpol-admin"
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"*"},
	}}}
	if _, err := cs.RbacV1().Roles(runnerNS).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: name}}}
	if _, err := cs.RbacV1().RoleBindings(runnerNS).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return impersonating(t, rest.ImpersonationConfig{UserName: name})
}

// asGuard acts as kestra-guard's ServiceAccount (with the admin's rights).
func asGuard(t *testing.T) *kubernetes.Clientset {
	return impersonating(t, rest.ImpersonationConfig{UserName: "system:serviceaccount:" + guardNS + ":kestra-guard", Groups: []string{"system:masters"}})
}

func impersonating(t *testing.T, ic rest.ImpersonationConfig) *kubernetes.Clientset {
	t.Helper()
	c := rest.CopyConfig(restCfg)
	c.Impersonate = ic
	out, err := kubernetes.NewForConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
