package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// hardenedPod passes every rule: each bypass case is one change away from it.
func hardenedPod(ns, name string) *corev1.Pod {
	p := kestraDefaultPod(ns, name)
	p.Spec.AutomountServiceAccountToken = ptr.To(false)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			cs[i].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
		}
	}
	return p
}

type bypass struct {
	name string
	rule string // the rule whose ID the denial must carry
	pod  func(p *corev1.Pod)
}

func hostPath(path string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}})
	}
}

func bypassCorpus() []bypass {
	cases := []bypass{
		{"hostPath with //", "no-host-path", hostPath("//var/run/docker.sock")},
		{"hostPath with /./", "no-host-path", hostPath("/var/./run/docker.sock")},
		{"hostPath with trailing /", "no-host-path", hostPath("/var/run/docker.sock/")},
		{"hostPath parent of the socket", "no-host-path", hostPath("/var/run")},
		{"hostPath /run alias", "no-host-path", hostPath("/run/containerd/containerd.sock")},
		{"hostPath of the whole node", "no-host-path", hostPath("/")},
		{"hostPath never mounted", "no-host-path", hostPath("/etc/kubernetes")},
		{"container runAsUser 0 over a safe Pod", "run-as-non-root", func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{"container runAsNonRoot false over a safe Pod", "run-as-non-root", func(p *corev1.Pod) { p.Spec.Containers[1].SecurityContext.RunAsNonRoot = ptr.To(false) }},
		{"init container as root", "run-as-non-root", func(p *corev1.Pod) { p.Spec.InitContainers[0].SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{"Pod-level root hidden by container overrides", "run-as-non-root", func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					cs[i].SecurityContext.RunAsUser = ptr.To[int64](1000)
				}
			}
		}},
		{"init container writable root", "read-only-root-filesystem", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		}},
		{"privileged sidecar", "no-privileged", func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.Privileged = ptr.To(true)
			p.Spec.Containers[1].SecurityContext.AllowPrivilegeEscalation = nil // the API refuses false next to privileged
		}},
		{"container seccomp Unconfined", "seccomp-profile", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}},
		{"host network", "no-host-network", func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
		{"host PID", "no-host-namespaces", func(p *corev1.Pod) { p.Spec.HostPID = true }},
		{"liveness probe on the metadata service", "no-host-probes", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "169.254.169.254", Path: "/latest/meta-data/iam/security-credentials/", Port: intstr.FromInt32(80),
				HTTPHeaders: []corev1.HTTPHeader{{Name: "Metadata-Flavor", Value: "Google"}}}}}
		}},
		{"readiness probe tcpSocket host", "no-host-probes", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "10.96.0.1", Port: intstr.FromInt32(443)}}}
		}},
		{"preStop hook host on a sidecar", "no-host-probes", func(p *corev1.Pod) {
			p.Spec.Containers[1].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "metadata.google.internal", Path: "/computeMetadata/v1/", Port: intstr.FromInt32(80)}}}
		}},
		{"exec liveness probe reading the metadata service", "no-metadata-address", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: []string{"sh", "-c", "wget -qO /tmp/c http://169.254.169.254/latest/meta-data/iam/security-credentials/ || true"}}}}
		}},
		{"postStart hook reading the metadata service", "no-metadata-address", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"wget", "-qO", "/tmp/c", "http://0xa9fea9fe/latest/meta-data/"}}}}
		}},
		{"host alias naming the metadata address", "no-metadata-address", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "169.254.169.254", Hostnames: []string{"config.example.com"}}}
		}},
		{"host port", "no-host-ports", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}},
		// What Pod Security baseline or restricted refuses (README, "Pod
		// Security restricted is the floor").
		{"SELinux spc_t", "no-unsafe-selinux", func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
		}},
		{"unmasked /proc in a user namespace", "no-unmasked-proc", func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr.To(false) // the API allows Unmasked only there
			p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}},
		{"unsafe sysctl", "no-unsafe-sysctls", func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}
		}},
		{"AppArmor Unconfined", "no-unconfined-apparmor", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}},
		{"AppArmor unconfined annotation", "no-unconfined-apparmor", func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + p.Spec.Containers[0].Name: "unconfined"}
		}},
		// Only the gate itself, field for field, may name metadata
		// addresses: not any init container that takes its name (when
		// start-gate only warns, nothing else refuses it).
		{"init container named as the start gate reading the metadata service", "no-metadata-address", func(p *corev1.Pod) {
			p.Spec.InitContainers = append([]corev1.Container{{Name: policy.GateContainerName, Image: "busybox",
				Command: []string{"sh", "-c", "wget -qO- http://169.254.169.254/latest/meta-data/"},
				SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}, p.Spec.InitContainers...)
		}},
		{"gitRepo volume", "restricted-volume-types", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "repo", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}}})
		}},
		{"nfs volume", "restricted-volume-types", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.2", Path: "/"}}})
		}},
	}
	// Metadata addresses in every encoding, in command, args and env.
	for _, addr := range []string{
		"169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "[::ffff:169.254.169.254]",
		"[fd00:ec2::254]", "169.254.170.2", "168.63.129.16", "100.100.100.200", "metadata.google.internal", "[fe80::a9fe:a9fe%25eth0]",
		"\uff11\uff16\uff19\u3002\uff12\uff15\uff14\u3002\uff11\uff16\uff19\u3002\uff12\uff15\uff14", "meta\u00addata.google.internal",
		"%EF%BC%91%EF%BC%96%EF%BC%99.254.169.254", "0x" + strings.Repeat("0", 200) + "a9fea9fe",
		// After a colon, and with trailing dots and colons (found by an
		// attacker's read of the in-tree CEL).
		"x:169.254.169.254", "169.254.169.254..", "169.254.169.254.:", "fd00:ec2::254:",
		// Hostnames in capitals (resolvers ignore case).
		"METADATA.Google.Internal", "Instance-Data.EC2.internal",
	} {
		url := "http://" + addr + "/latest/meta-data/"
		cases = append(cases,
			bypass{"command " + addr, "no-metadata-address", func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"curl", url} }},
			bypass{"args " + addr, "no-metadata-address", func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{"-c", "wget -qO- " + url} }},
			bypass{"env " + addr, "no-metadata-address", func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "ENDPOINT", Value: url}}
			}},
		)
	}
	return cases
}

// Every known way to slip a dangerous task-runner Pod past a webhook is
// refused by the real API server with kestra-guard in enforce mode.
func TestBypassCorpus(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	g.CreateNamespace(t, "labelled", nil)

	if err := g.Client.Create(ctx, hardenedPod("runners", "baseline")); err != nil {
		t.Fatalf("the hardened baseline must be admitted: %v", err)
	}
	for i, c := range bypassCorpus() {
		t.Run(c.name, func(t *testing.T) {
			p := hardenedPod("runners", fmt.Sprintf("case-%d", i))
			c.pod(p)
			refused(t, g.Client.Create(ctx, p), c.rule)
		})
	}

	t.Run("no task-runner label in a runner namespace", func(t *testing.T) {
		p := hardenedPod("runners", "unlabelled")
		p.Labels = nil
		p.Spec.HostNetwork = true
		refused(t, g.Client.Create(ctx, p), "no-host-network")
	})
	t.Run("a forged label on UPDATE makes a Pod a task runner", func(t *testing.T) {
		p := hardenedPod("labelled", "forged")
		p.Labels = map[string]string{"app": "x"}
		p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatalf("not a task runner yet: %v", err)
		}
		p.Labels["kestra.io/taskrun-id"] = "forged"
		refused(t, g.Client.Update(ctx, p), "run-as-non-root")
	})
	t.Run("a removed label on UPDATE", func(t *testing.T) {
		p := hardenedPod("labelled", "unlabel")
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		delete(p.Labels, "kestra.io/taskrun-id")
		refused(t, g.Client.Update(ctx, p), "metadata-egress-blocked")
	})
	// pods/status writes keep label changes (the status strategy resets
	// only the spec): they are judged as a plain UPDATE.
	t.Run("a removed label through pods/status", func(t *testing.T) {
		p := hardenedPod("labelled", "unlabel-status")
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		delete(p.Labels, "kestra.io/taskrun-id")
		refused(t, g.Client.Status().Update(ctx, p), "metadata-egress-blocked")
		var got corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil || got.Labels["kestra.io/taskrun-id"] == "" {
			t.Errorf("the label is gone after the refusal (%v): %v", err, got.Labels)
		}
	})
	t.Run("a forged label through pods/status makes a Pod a task runner", func(t *testing.T) {
		p := hardenedPod("labelled", "forged-status")
		p.Labels = map[string]string{"app": "x"}
		p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatalf("not a task runner yet: %v", err)
		}
		p.Labels["kestra.io/taskrun-id"] = "forged"
		refused(t, g.Client.Status().Update(ctx, p), "run-as-non-root")
	})
	t.Run("an ephemeral container as root", func(t *testing.T) {
		var p corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "runners", Name: "baseline"}, &p); err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}}}
		_, err := g.Clientset.CoreV1().Pods("runners").UpdateEphemeralContainers(ctx, "baseline", &p, metav1.UpdateOptions{})
		refused(t, err, "run-as-non-root")
	})
	t.Run("a NetworkPolicy added later that reopens metadata egress", func(t *testing.T) {
		refused(t, g.Client.Create(ctx, allowAll("runners", "reopen")), "metadata-egress-blocked")
	})
	t.Run("server-side dry-run", func(t *testing.T) {
		p := hardenedPod("runners", "dry")
		p.Spec.HostNetwork = true
		refused(t, g.Client.Create(ctx, p, client.DryRunAll), "no-host-network")
	})
}

// A status write that leaves labels and annotations alone (the kubelet's)
// is not sent to kestra-guard, so it never waits on it: with the server
// stopped it still succeeds, while one that changes a label is refused
// (failurePolicy Fail). Through the real API server, with the chart's
// matchConditions.
func TestPodStatusWritesReachTheWebhookOnlyForLabels(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	p := hardenedPod("runners", "status")
	if err := g.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Labels["team"] = "data"
	if err := g.Client.Status().Update(ctx, p); err != nil {
		t.Fatalf("a safe label change through pods/status is admitted: %v", err)
	}
	if err := g.StopServer(); err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if err := g.Client.Status().Update(ctx, p); err != nil {
		t.Fatalf("a status write that changes no label must not reach kestra-guard: %v", err)
	}
	p.Annotations = map[string]string{"note": "x"}
	if err := g.Client.Status().Update(ctx, p); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("want an annotation change through pods/status sent to the stopped webhook and refused, got %v", err)
	}
	p.Annotations = nil
	delete(p.Labels, "kestra.io/taskrun-id")
	if err := g.Client.Status().Update(ctx, p); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("want a label change through pods/status sent to the stopped webhook and refused, got %v", err)
	}
}

// refused asserts that kestra-guard refused a request, naming rule.
func refused(t *testing.T, err error, rule string) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "kestra-guard denied") || !strings.Contains(err.Error(), rule) {
		t.Fatalf("want kestra-guard to refuse it with %s, got %v", rule, err)
	}
}

// Relabelling a namespace to off or audit is a way around kestra-guard: the
// chart's ValidatingAdmissionPolicy lets only the allowed groups do it, even
// for a user whose RBAC lets them edit namespaces.
func TestNamespaceLabelGuard(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()
	objs, err := chart.Render("kestra-guard", framework.GuardNamespace, map[string]any{"namespaceLabelGuard": map[string]any{"enabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
			if err := framework.Apply(ctx, cp.Client, o); err != nil {
				t.Fatalf("applying %s: %v", o.GetKind(), err)
			}
		}
	}
	cp.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "enforce"})
	editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "namespace-editor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "namespaces/status", "namespaces/finalize"}, Verbs: []string{"get", "create", "update", "patch"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "namespace-editor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "namespace-editor"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "devs", APIGroup: "rbac.authorization.k8s.io"}}}
	for _, o := range []client.Object{editor, binding} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	dev := cp.UserClient(t, "dev", "devs")

	relabel := func(c client.Client, mode string) error {
		var ns corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: "runners"}, &ns); err != nil {
			return err
		}
		ns.Labels[scope.ModeLabel] = mode
		return c.Update(ctx, &ns)
	}
	// The policy takes a moment to load; each probe is a real change.
	probes := 0
	framework.Eventually(t, func() error {
		probes++
		if err := relabel(dev, fmt.Sprintf("probe-%d", probes)); err == nil || !strings.Contains(err.Error(), "may set, change or remove") {
			return fmt.Errorf("want the relabel refused, got %v", err)
		}
		return nil
	})
	if err := relabel(dev, "off"); err == nil {
		t.Error("a developer switched a runner namespace to off")
	}
	if err := relabel(dev, "audit"); err == nil {
		t.Error("a developer switched a runner namespace to audit")
	}
	var pin corev1.Namespace
	if err := dev.Get(ctx, client.ObjectKey{Name: "runners"}, &pin); err != nil {
		t.Fatal(err)
	}
	pin.Labels[scope.EnforceVersionLabel] = "v0.1.0"
	if err := dev.Update(ctx, &pin); err == nil || !strings.Contains(err.Error(), "may set, change or remove") {
		t.Errorf("want a developer's pin to an older rule set refused, got %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Labels: map[string]string{scope.ModeLabel: "off"}}}
	if err := dev.Create(ctx, ns); err == nil {
		t.Error("a developer created a namespace in mode off")
	}
	if err := dev.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain", Labels: map[string]string{"team": "a"}}}); err != nil {
		t.Errorf("other labels stay free: %v", err)
	}
	// The status and finalize subresources keep label changes: the same
	// policy judges them.
	for _, sub := range []string{"status", "finalize"} {
		var ns corev1.Namespace
		if err := dev.Get(ctx, client.ObjectKey{Name: "runners"}, &ns); err != nil {
			t.Fatal(err)
		}
		ns.Labels[scope.ModeLabel] = "off"
		if err := dev.SubResource(sub).Update(ctx, &ns); err == nil || !strings.Contains(err.Error(), "may set, change or remove") {
			t.Errorf("want the relabel through namespaces/%s refused, got %v", sub, err)
		}
		delete(ns.Labels, scope.RunnerLabel)
		if err := dev.SubResource(sub).Update(ctx, &ns); err == nil || !strings.Contains(err.Error(), "may set, change or remove") {
			t.Errorf("want the runner label's removal through namespaces/%s refused, got %v", sub, err)
		}
		var plain corev1.Namespace
		if err := dev.Get(ctx, client.ObjectKey{Name: "plain"}, &plain); err != nil {
			t.Fatal(err)
		}
		plain.Labels["team"] = "b-" + sub
		if err := dev.SubResource(sub).Update(ctx, &plain); err != nil {
			t.Errorf("other labels stay free through namespaces/%s: %v", sub, err)
		}
		// The door is real: the subresource wrote the label.
		if err := dev.Get(ctx, client.ObjectKey{Name: "plain"}, &plain); err != nil || plain.Labels["team"] != "b-"+sub {
			t.Errorf("namespaces/%s did not change labels (team=%q, %v): the test no longer probes a way around", sub, plain.Labels["team"], err)
		}
	}
	if err := relabel(cp.Client, "audit"); err != nil {
		t.Errorf("an admin (system:masters) may relabel: %v", err)
	}
}
