//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// probeScript is shipped in a ConfigMap, not in the Pod's command:
// kestra-guard refuses Pods whose command names a metadata address. Its first
// action is one connection to the target, with no retry: a task's first
// connection is the attacker's, so it must already be blocked (the start
// gate holds the task until the enforcer has applied the managed policy).
// Before it, only the host's uptime is read (no packet): the time the task
// started, compared with the uptime at creation by the test. The route
// checks come after the attempt (the target goes through the test gateway;
// the real metadata address has no route at all; the tripwire counts
// anything that would leave). Its verdict is the termination message:
// "<blocked|reached> <target> at <uptime>[: <answer>]".
const probeScript = `#!/bin/sh
t0=$(cut -d' ' -f1 /proc/uptime)
kind="$1" expect="$2"
case "$kind" in
  metadata) host=%[1]s; port=80; via="via %[3]s dev eth0" ;;
  peer) host=%[2]s; port=8080; via="dev eth0" ;;
  *) echo "unknown target $kind" > /dev/termination-log; exit 2 ;;
esac
if out=$(timeout 3 wget -q -O- "http://$host:$port/" 2>/dev/null); then got=reached; else got=blocked; fi
say() { echo "$*" > /dev/termination-log; echo "$*"; }
route=$(ip route get "$host" 2>&1)
case "$route" in *"$via"*) ;; *) say "route-unexpected: $route"; exit 3 ;; esac
if ip route get 169.254.169.254 >/dev/null 2>&1; then say "real-metadata-routable"; exit 4; fi
if [ "$got" = reached ]; then say "reached $kind at $t0: $out"; else say "blocked $kind at $t0"; fi
[ "$got" = "$expect" ]
`

// dnsScript resolves a name through the stand-in node-local DNS server
// (UDP) and opens TCP to its port 53, then tries its port 80, which the
// managed policy must keep closed, and the fake metadata server, first.
const dnsScript = `#!/bin/sh
if timeout 3 wget -q -O- "http://%[1]s:80/" >/dev/null 2>&1; then meta=reached; else meta=blocked; fi
if out=$(timeout 5 nslookup kg-e2e.test %[4]s 2>&1); then
  case "$out" in *%[2]s*) udp=resolved ;; *) udp="no-answer" ;; esac
else udp=failed; fi
if timeout 3 nc %[4]s 53 </dev/null >/dev/null 2>&1; then tcp=open; else tcp=closed; fi
if timeout 3 nc %[4]s 80 </dev/null >/dev/null 2>&1; then other=open; else other=closed; fi
echo "metadata=$meta dns-udp=$udp dns-tcp=$tcp port80=$other" > /dev/termination-log
`

func createProbeScripts(ctx context.Context, ns string) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kg-e2e-probes"},
		Data: map[string]string{
			"probe.sh": fmt.Sprintf(probeScript, env.metaIP, env.peerIP, env.gatewayIP),
			"dns.sh":   fmt.Sprintf(dnsScript, env.metaIP, env.peerIP, env.gatewayIP, env.dnsIP),
		},
	}
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the probe ConfigMap in %s: %w", ns, err)
	}
	return nil
}

// taskPod is a Pod shaped as Kestra's task runner makes it: labels, no
// securityContext, restartPolicy Never, one container "main".
func taskPod(name string, command []string) *corev1.Pod {
	id := rand.String(8)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name + "-" + id,
			Labels: map[string]string{
				"kestra.io/namespace": "company.team", "kestra.io/flow-id": "e2e", "kestra.io/task-id": name,
				"kestra.io/execution-id": id, "kestra.io/taskrun-id": id, "kestra.io/taskrun-attempt": "0",
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: env.busybox, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: command,
			}},
		},
	}
}

// probePod runs the probe script against target ("metadata" or "peer"),
// expecting "blocked" or "reached".
func probePod(target, expect string) *corev1.Pod {
	return scriptPod("probe-"+target, "/probes/probe.sh", target, expect)
}

// scriptPod runs a script of the probe ConfigMap.
func scriptPod(name string, command ...string) *corev1.Pod {
	p := taskPod(name, append([]string{"/bin/sh"}, command...))
	mode := int32(0o555)
	p.Spec.Volumes = []corev1.Volume{{Name: "probes", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "kg-e2e-probes"}, DefaultMode: &mode},
	}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "probes", MountPath: "/probes", ReadOnly: true}}
	return p
}

// mutated says whether kestra-guard's mutation reached the Pod.
func mutated(p *corev1.Pod) bool {
	sc := p.Spec.SecurityContext
	return sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 65532
}

// create creates p in ns and deletes it when the test ends.
func create(t *testing.T, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := warnCS.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Pod %s/%s: %v", ns, p.Name, err)
	}
	t.Cleanup(func() {
		grace := int64(1)
		_ = cs.CoreV1().Pods(ns).Delete(context.Background(), got.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
	return got
}

// terminated waits until container of Pod ns/name has terminated and
// returns its exit code and termination message.
func terminated(t *testing.T, ns, name, container string, timeout time.Duration) (int32, string) {
	t.Helper()
	var st *corev1.ContainerStateTerminated
	var last *corev1.Pod
	err := poll(context.Background(), timeout, func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if s.Name == container && s.State.Terminated != nil {
				st = s.State.Terminated
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("container %s of Pod %s/%s did not terminate: %v; status: %s", container, ns, name, err, podStatus(last))
	}
	return st.ExitCode, strings.TrimSpace(st.Message)
}

// running waits until container of Pod ns/name runs.
func running(t *testing.T, ns, name, container string, timeout time.Duration) {
	t.Helper()
	var last *corev1.Pod
	err := poll(context.Background(), timeout, func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if s.Name == container && s.State.Running != nil {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("container %s of Pod %s/%s is not running: %v; status: %s", container, ns, name, err, podStatus(last))
	}
}

func podStatus(p *corev1.Pod) string {
	if p == nil {
		return "no Pod"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, " %s=%s(%s)", c.Type, c.Status, c.Message)
		}
	}
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s %+v]", s.Name, s.State)
	}
	return b.String()
}

// execIn runs command in a container over pods/exec, as Kestra's client
// does, and returns its standard output.
func execIn(ns, pod, container string, stdin io.Reader, command ...string) ([]byte, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: command, Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(restCfg, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Stderr: &errOut}); err != nil {
		return out.Bytes(), fmt.Errorf("exec %q in %s/%s[%s]: %w (stderr: %s)", command, ns, pod, container, err, errOut.String())
	}
	return out.Bytes(), nil
}

// upload copies files into dir of a container the way Kestra's client
// (fabric8 PodUpload) does: a tar staged in the target folder, extracted
// with tar -xmf, removed, then counted (not for a marker, which ends the
// container that waits for it).
func upload(t testing.TB, ns, pod, container, dir string, files map[string]string, count bool) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	staged := dir + "/kg-e2e-upload.tar"
	// Stdin over pods/exec can arrive short: the stream may close before
	// the last bytes reach cat. fabric8 checks the staged size for this
	// reason; so do we, and stage again (at most three times) when it
	// differs, saying so in the test log.
	for attempt := 1; ; attempt++ {
		if _, err := execIn(ns, pod, container, bytes.NewReader(b.Bytes()), "sh", "-c", "mkdir -p "+dir+" && cat - > "+staged); err != nil {
			return err
		}
		out, err := execIn(ns, pod, container, nil, "sh", "-c", "wc -c < "+staged)
		if err != nil {
			return err
		}
		got := strings.TrimSpace(string(out))
		if got == strconv.Itoa(b.Len()) {
			break
		}
		if attempt == 3 {
			return fmt.Errorf("upload into %s: staged %s of %d bytes %d times", dir, got, b.Len(), attempt)
		}
		t.Logf("upload into %s/%s[%s]:%s: staged %s of %d bytes, staging again", ns, pod, container, dir, got, b.Len())
	}
	if _, err := execIn(ns, pod, container, nil, "sh", "-c", "tar -C "+dir+" -xmf "+staged+"; e=$?; rm "+staged+"; exit $e"); err != nil {
		return err
	}
	if !count {
		return nil
	}
	out, err := execIn(ns, pod, container, nil, "sh", "-c", "find "+dir+" -type f | wc -l")
	if err != nil {
		return err
	}
	if n := strings.TrimSpace(string(out)); n == "0" {
		return fmt.Errorf("upload into %s: find counts %s files", dir, n)
	}
	return nil
}

// download reads dir from a container with `tar -cf -`, as Kestra does
// for output files, and returns the regular files by path.
func download(ns, pod, container, dir string) (map[string]string, error) {
	out, err := execIn(ns, pod, container, nil, "tar", "-cf", "-", dir)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tar of %s: %w", dir, err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			files[h.Name] = string(data)
		}
	}
}
