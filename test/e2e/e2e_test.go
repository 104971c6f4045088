//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kestra-guard/kestra-guard/internal/managed"
)

// mainScript is the task: it reads the uploaded input, writes an output,
// and tries /tmp, $HOME and the root filesystem. Its termination message
// says what worked.
const mainScript = `set -e
test "$(cat input.txt)" = "hello from kestra"
wc -c < input.txt | tr -d ' ' > output.txt
r="uid=$(id -u)"
if echo t > /tmp/kg-e2e 2>/dev/null; then r="$r tmp=ok"; else r="$r tmp=fail"; fi
if echo h > "$HOME/.kg-e2e" 2>/dev/null; then r="$r home=ok"; else r="$r home=fail(HOME=$HOME)"; fi
if touch /kg-e2e-root 2>/dev/null; then r="$r root=writable"; else r="$r root=read-only"; fi
echo "$r" > /dev/termination-log
case "$r" in *fail*|*writable*) exit 1 ;; esac`

// kestraPod is a Pod as Kestra's Kubernetes task runner creates it for a
// Commands task with input and output files: init-files and out-files
// wait for markers Kestra uploads over exec, main runs the commands in
// /kestra/working-dir; no securityContext anywhere.
func kestraPod(name string) *corev1.Pod {
	p := taskPod(name, []string{"/bin/sh", "-c", mainScript})
	mount := []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "kestra-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	p.Spec.Containers[0].WorkingDir = "/kestra/working-dir"
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "WORKING_DIR", Value: "/kestra/working-dir"}}
	p.Spec.Containers[0].VolumeMounts = mount
	wait := func(marker, done string) []string {
		return []string{"sh", "-c", `echo "Waiting to be ready!"; while [ ! -f /kestra/` + marker + ` ]; do sleep 0.5; done; echo "` + done + `"`}
	}
	p.Spec.InitContainers = []corev1.Container{{
		Name: "init-files", Image: env.busybox, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: wait("ready", "Ready!"), VolumeMounts: mount,
	}}
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
		Name: "out-files", Image: env.busybox, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: wait("ended", "Ended!"), VolumeMounts: mount,
	})
	return p
}

// Case 1: a Kestra-shaped Pod in an enforce namespace is mutated and does
// its job: files in over exec, the task runs as 65532 on a read-only root
// with a writable /tmp and $HOME, files out over exec.
func TestKestraPodRunsHardened(t *testing.T) {
	runsHardened(t, create(t, runnerNS, kestraPod("commands")))
}

// runsHardened checks that p, a kestraPod created in runnerNS, was mutated
// and does its job hardened, as Kestra drives it: files in over exec, the
// task runs as 65532 on a read-only root with a writable /tmp and $HOME,
// files out over exec.
func runsHardened(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if !mutated(p) {
		t.Fatalf("Pod %s was admitted without kestra-guard's mutation: securityContext %+v", p.Name, p.Spec.SecurityContext)
	}
	running(t, runnerNS, p.Name, "init-files", 2*time.Minute)
	if err := upload(t, runnerNS, p.Name, "init-files", "/kestra/working-dir", map[string]string{"input.txt": "hello from kestra\n"}, true); err != nil {
		t.Fatalf("uploading input files: %v", err)
	}
	if err := upload(t, runnerNS, p.Name, "init-files", "/kestra", map[string]string{"ready": ""}, false); err != nil {
		t.Fatalf("uploading the ready marker: %v", err)
	}
	code, msg := terminated(t, runnerNS, p.Name, "main", 2*time.Minute)
	t.Logf("main: exit %d, %q", code, msg)
	for _, want := range []string{"uid=65532", "tmp=ok", "home=ok", "root=read-only"} {
		if !strings.Contains(msg, want) {
			t.Errorf("main's report %q lacks %q", msg, want)
		}
	}
	if code != 0 {
		t.Errorf("main exited %d, want 0", code)
	}
	files, err := download(runnerNS, p.Name, "out-files", "/kestra/working-dir/")
	if err != nil {
		t.Fatalf("downloading outputs: %v", err)
	}
	if got := files["kestra/working-dir/output.txt"]; strings.TrimSpace(got) != "18" {
		t.Errorf("downloaded output.txt = %q, want the byte count 18 (files: %v)", got, keys(files))
	}
	if err := upload(t, runnerNS, p.Name, "out-files", "/kestra", map[string]string{"ended": ""}, false); err != nil {
		t.Fatalf("uploading the ended marker: %v", err)
	}
	if code, _ := terminated(t, runnerNS, p.Name, "out-files", time.Minute); code != 0 {
		t.Errorf("out-files exited %d, want 0", code)
	}
}

// runProbes starts the probes concurrently and checks each one's exit code
// and termination message.
func runProbes(t *testing.T, probes []probe) {
	t.Helper()
	var wg sync.WaitGroup
	for _, pr := range probes {
		p := create(t, pr.ns, probePod(pr.target, pr.expect))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(pr.ns+"/"+pr.target+"/"+pr.expect, func(t *testing.T) {
				code, msg := terminated(t, pr.ns, p.Name, "main", 4*time.Minute)
				t.Logf("probe %s in %s: exit %d, %q", pr.target, pr.ns, code, msg)
				if code != 0 || !strings.HasPrefix(msg, pr.want) || !strings.HasSuffix(msg, pr.answer) {
					t.Errorf("probe of %s from %s: exit %d, message %q; want exit 0 and %q...%q", pr.target, pr.ns, code, msg, pr.want, pr.answer)
				}
			})
		}()
	}
	wg.Wait()
}

// probe is one probe Pod: the message must start with want and end with
// answer.
type probe struct{ ns, target, expect, want, answer string }

// Case 2: from a task runner, the fake metadata server is unreachable and
// a peer on the Pod network answers; from a namespace kestra-guard does not
// guard, the same probe reaches the fake metadata server (the network can
// carry the packet).
func TestMetadataEgress(t *testing.T) {
	runProbes(t, []probe{
		{runnerNS, "metadata", "blocked", "blocked metadata at ", ""},
		{runnerNS, "peer", "reached", "reached peer at ", ": peer-ok"},
		{plainNS, "metadata", "reached", "reached metadata at ", ": fake-metadata-secret"},
	})
}

// Case 3: only kestra-guard changes the managed NetworkPolicy in a runner
// namespace: a user with every NetworkPolicy right there can neither open
// its egress nor delete it. Deleted anyway (here by kestra-guard's own
// identity, standing for a write that got through), it is restored by the
// controller, and a new probe is blocked again; a NetworkPolicy reopening
// metadata egress is refused in a runner namespace.
func TestManagedPolicyRestored(t *testing.T) {
	ctx := context.Background()
	old, err := cs.NetworkingV1().NetworkPolicies(runnerNS).Get(ctx, managed.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("managed NetworkPolicy: %v", err)
	}
	user := netpolAdmin(t)
	opened := old.DeepCopy()
	opened.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
	if _, err := user.NetworkingV1().NetworkPolicies(runnerNS).Update(ctx, opened, metav1.UpdateOptions{}); err == nil {
		t.Errorf("a user with NetworkPolicy rights in %s set the managed policy's egress to [{}]", runnerNS)
	} else {
		t.Logf("update to egress [{}] refused: %v", err)
	}
	// A change that reopens nothing by itself, but makes the policy select
	// no Pod: only the managed-policy rule refuses it.
	narrowed := old.DeepCopy()
	narrowed.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"kg-e2e/selects": "nothing"}}
	if _, err := user.NetworkingV1().NetworkPolicies(runnerNS).Update(ctx, narrowed, metav1.UpdateOptions{}); err == nil {
		t.Errorf("a user with NetworkPolicy rights in %s made the managed policy select no Pod", runnerNS)
	} else {
		t.Logf("update of the podSelector refused: %v", err)
	}
	if err := user.NetworkingV1().NetworkPolicies(runnerNS).Delete(ctx, managed.Name, metav1.DeleteOptions{}); err == nil {
		t.Errorf("a user with NetworkPolicy rights in %s deleted the managed policy", runnerNS)
	} else {
		t.Logf("delete refused: %v", err)
	}
	if err := asGuard(t).NetworkingV1().NetworkPolicies(runnerNS).Delete(ctx, managed.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the managed NetworkPolicy as kestra-guard: %v", err)
	}
	if err := poll(ctx, time.Minute, func() (bool, error) {
		np, err := cs.NetworkingV1().NetworkPolicies(runnerNS).Get(ctx, managed.Name, metav1.GetOptions{})
		return err == nil && np.UID != old.UID, nil
	}); err != nil {
		t.Fatalf("the managed NetworkPolicy was not restored: %v", err)
	}
	runProbes(t, []probe{{runnerNS, "metadata", "blocked", "blocked metadata at ", ""}})

	port := intstr.FromInt32(80)
	for name, egress := range map[string][]networkingv1.NetworkPolicyEgressRule{
		"allow-all-egress": {{}},
		"allow-everywhere": {{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}}},
		"allow-metadata":   {{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: env.metaIP + "/32"}}}, Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}}},
	} {
		np := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress:      egress,
			},
		}
		_, err := cs.NetworkingV1().NetworkPolicies(runnerNS).Create(ctx, np, metav1.CreateOptions{})
		if err == nil {
			_ = cs.NetworkingV1().NetworkPolicies(runnerNS).Delete(ctx, name, metav1.DeleteOptions{})
			t.Errorf("NetworkPolicy %s reopening metadata egress was admitted in %s", name, runnerNS)
			continue
		}
		t.Logf("%s refused: %v", name, err)
	}
}

// Case 4: in an audit namespace the same unsafe Pod runs unchanged (as
// root), the client gets warnings, and `kestra-guard audit` reports it.
func TestAuditNamespace(t *testing.T) {
	warnings.take()
	p := create(t, auditNS, taskPod("audited", []string{"/bin/sh", "-c", `id -u > /dev/termination-log; touch /kg-e2e-root && echo root=writable >> /dev/termination-log`}))
	got := warnings.take()
	if len(got) == 0 {
		t.Errorf("no admission warnings for an unsafe Pod in audit namespace %s", auditNS)
	}
	t.Logf("warnings: %q", got)
	if mutated(p) || p.Spec.Containers[0].SecurityContext != nil {
		t.Errorf("audit mode changed the Pod: %+v / %+v", p.Spec.SecurityContext, p.Spec.Containers[0].SecurityContext)
	}
	code, msg := terminated(t, auditNS, p.Name, "main", 2*time.Minute)
	if code != 0 || msg != "0\nroot=writable" {
		t.Errorf("audited Pod: exit %d, message %q; want exit 0, running as uid 0 on a writable root", code, msg)
	}

	cmd := exec.Command(env.guardBin, "audit", "-n", auditNS, "-o", "json", "--kubeconfig", env.kubeconfig)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() == 2) {
		t.Fatalf("kestra-guard audit: %v\n%s", err, out)
	}
	var rep struct {
		Results []struct {
			Kind, Namespace, Name string
			Violations            []struct{ Rule string }
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("kestra-guard audit -o json: %v\n%s", err, out)
	}
	for _, r := range rep.Results {
		if r.Kind == "Pod" && r.Name == p.Name && len(r.Violations) > 0 {
			t.Logf("kestra-guard audit reports %s with %d violations", p.Name, len(r.Violations))
			return
		}
	}
	t.Errorf("kestra-guard audit -n %s does not report Pod %s:\n%s", auditNS, p.Name, out)
}

// Case 5: a probe or lifecycle hook with a host is refused: the kubelet
// makes that request from the node's network, where no NetworkPolicy of
// the Pod applies.
func TestHostProbesRefused(t *testing.T) {
	get := &corev1.HTTPGetAction{Host: env.peerIP, Port: intstr.FromInt32(8080), Path: "/"}
	for name, tweak := range map[string]func(*corev1.Container){
		"readiness-probe": func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: get}}
		},
		"post-start-hook": func(c *corev1.Container) {
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: get}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := taskPod(name, []string{"sleep", "1"})
			tweak(&p.Spec.Containers[0])
			got, err := cs.CoreV1().Pods(runnerNS).Create(context.Background(), p, metav1.CreateOptions{})
			if err == nil {
				grace := int64(0)
				_ = cs.CoreV1().Pods(runnerNS).Delete(context.Background(), got.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
				t.Fatalf("a task runner whose %s targets host %s was admitted", name, env.peerIP)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// Case 6: with one of the two replicas killed, task runners are still
// admitted (and mutated).
func TestReplicaKilled(t *testing.T) {
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(guardNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=kestra-guard"})
	if err != nil || len(pods.Items) < 2 {
		t.Fatalf("want 2 kestra-guard Pods, got %d (%v)", len(pods.Items), err)
	}
	victim := pods.Items[0].Name
	grace := int64(0)
	if err := cs.CoreV1().Pods(guardNS).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatalf("killing %s: %v", victim, err)
	}
	t.Logf("killed %s", victim)
	for i := 0; i < 10; i++ {
		p := taskPod("after-kill", []string{"true"})
		got, err := cs.CoreV1().Pods(runnerNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("task runner %d refused with one replica down: %v", i, err)
			continue
		}
		if !mutated(got) {
			t.Errorf("task runner %d admitted without mutation", i)
		}
	}
	p := create(t, runnerNS, taskPod("after-kill-run", []string{"sh", "-c", "id -u > /dev/termination-log"}))
	if code, msg := terminated(t, runnerNS, p.Name, "main", 2*time.Minute); code != 0 || msg != "65532" {
		t.Errorf("task runner after the kill: exit %d, uid %q; want 0 and 65532", code, msg)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The chart hands each replica its container's memory limit (the downward
// API), and kestra-guard gives the Go runtime a soft limit of 90% of it:
// its log says so, with the bytes, once at start.
func TestSoftMemoryLimitFromTheChart(t *testing.T) {
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(guardNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=kestra-guard"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("want kestra-guard Pods, got %d (%v)", len(pods.Items), err)
	}
	checked := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		limit := p.Spec.Containers[0].Resources.Limits.Memory()
		if limit.IsZero() {
			t.Fatalf("%s has no memory limit: the chart sets one", p.Name)
		}
		want := limit.Value() / 10 * 9
		// The log is flushed each second: a replica just started (case 7
		// kills one) may not have written the line yet.
		var got []int64
		err := poll(ctx, 30*time.Second, func() (bool, error) {
			raw, err := cs.CoreV1().Pods(guardNS).GetLogs(p.Name, &corev1.PodLogOptions{Container: "kestra-guard"}).DoRaw(ctx)
			if err != nil {
				return false, nil
			}
			got = nil
			for _, line := range strings.Split(string(raw), "\n") {
				var entry struct {
					Msg   string `json:"msg"`
					Bytes int64  `json:"bytes"`
				}
				if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "soft memory limit set" {
					got = append(got, entry.Bytes)
				}
			}
			return len(got) > 0, nil
		})
		if err != nil {
			t.Errorf("%s: no \"soft memory limit set\" in its log within 30 s: the limit did not reach the runtime", p.Name)
			continue
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: soft memory limit %v bytes, want once %d (90%% of its limit %s)", p.Name, got, want, limit)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no running kestra-guard Pod to check")
	}
}
