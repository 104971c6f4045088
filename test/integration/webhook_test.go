package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// kestraDefaultPod is the Pod Kestra's task runner creates by default: no
// securityContext, busybox init and sidecar, emptyDir at /kestra.
func kestraDefaultPod(ns, name string) *corev1.Pod {
	mount := []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"kestra.io/taskrun-id": "2ZAfRgXT5GaxBlyHtZ2HC7", "kestra.io/flow-id": "hello"}},
		Spec: corev1.PodSpec{
			RestartPolicy:  corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{{Name: "init-files", Image: "busybox", Command: []string{"sh", "-c", "sleep 1"}, VolumeMounts: mount}},
			Containers: []corev1.Container{
				{Name: "main", Image: "python:3.12", Command: []string{"python", "main.py"}, VolumeMounts: mount},
				{Name: "out-files", Image: "busybox", Command: []string{"sh", "-c", "sleep 1"}, VolumeMounts: mount},
			},
			Volumes: []corev1.Volume{{Name: "kestra-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// badPod breaks the five promises at once: root, writable filesystem,
// the Docker socket, host network.
func badPod(ns, name string) *corev1.Pod {
	p := kestraDefaultPod(ns, name)
	p.Spec.HostNetwork = true
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(false)}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "docker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}})
	return p
}

func TestWebhook(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "kestra-runners", map[string]string{scope.RunnerLabel: "true"})
	g.CreateNamespace(t, "kestra-audit", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"})
	g.CreateNamespace(t, "apps", nil)

	t.Run("bad task runner is denied with every rule and field", func(t *testing.T) {
		err := g.Client.Create(ctx, badPod("kestra-runners", "bad"))
		if !apierrors.IsForbidden(err) {
			t.Fatalf("want Forbidden, got %v", err)
		}
		for _, want := range []string{
			"run-as-non-root: spec.securityContext.runAsUser",
			"read-only-root-filesystem: spec.containers[0].securityContext.readOnlyRootFilesystem",
			"no-host-path: spec.volumes[1].hostPath.path",
			"is /var/run/docker.sock",
			"no-host-network: spec.hostNetwork",
			"metadata-egress-blocked: spec.hostNetwork",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial lacks %q:\n%v", want, err)
			}
		}
	})

	t.Run("the same Pod in an audit namespace is admitted with warnings", func(t *testing.T) {
		g.Warnings.Take()
		if err := g.WarnClient.Create(ctx, badPod("kestra-audit", "bad")); err != nil {
			t.Fatalf("audit mode must admit: %v", err)
		}
		warnings := strings.Join(g.Warnings.Take(), "\n")
		for _, want := range []string{"enforce would deny: no-host-network: spec.hostNetwork", "enforce would deny: no-host-path", "would set spec.securityContext.runAsNonRoot=true"} {
			if !strings.Contains(warnings, want) {
				t.Errorf("warnings lack %q:\n%s", want, warnings)
			}
		}
		var got corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "kestra-audit", Name: "bad"}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.SecurityContext.RunAsNonRoot != nil {
			t.Error("audit mode must not mutate")
		}
	})

	t.Run("a Kestra default Pod is mutated, protected and admitted", func(t *testing.T) {
		if err := g.Client.Create(ctx, kestraDefaultPod("apps", "task")); err != nil {
			t.Fatalf("want admitted after mutation: %v", err)
		}
		var got corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "task"}, &got); err != nil {
			t.Fatal(err)
		}
		if sc := got.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || !*sc.RunAsNonRoot {
			t.Errorf("pod securityContext = %+v, want runAsNonRoot with runAsUser 65532", sc)
		}
		for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
			if c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("container %s not read-only", c.Name)
			}
		}
		var np networkingv1.NetworkPolicy
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "apps", Name: managed.Name}, &np); err != nil {
			t.Errorf("the managed NetworkPolicy should exist before the Pod is admitted: %v", err)
		}
	})

	t.Run("a Pod without the label outside runner namespaces is untouched", func(t *testing.T) {
		p := kestraDefaultPod("apps", "web")
		p.Labels = map[string]string{"app": "web"}
		p.Spec.HostNetwork = true
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatalf("want admitted: %v", err)
		}
		var got corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.SecurityContext != nil && got.Spec.SecurityContext.RunAsNonRoot != nil {
			t.Error("a Pod that is not a task runner was mutated")
		}
	})

	t.Run("server-side dry-run gets the same answer with no side effects", func(t *testing.T) {
		g.CreateNamespace(t, "dry", map[string]string{scope.ModeLabel: "enforce"})
		err := g.Client.Create(ctx, badPod("dry", "bad"), client.DryRunAll)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no-host-network: spec.hostNetwork") {
			t.Fatalf("want the same denial on dry-run, got %v", err)
		}
		if err := g.Client.Create(ctx, kestraDefaultPod("dry", "ok"), client.DryRunAll); err != nil {
			t.Fatalf("a Pod admitted for real must be admitted on dry-run: %v", err)
		}
		var np networkingv1.NetworkPolicy
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "dry", Name: managed.Name}, &np); !apierrors.IsNotFound(err) {
			t.Errorf("dry-run must not create the managed NetworkPolicy, got %v", err)
		}
	})

	t.Run("an ephemeral container that breaks a rule is refused", func(t *testing.T) {
		if err := g.Client.Create(ctx, kestraDefaultPod("kestra-runners", "debug-me")); err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "kestra-runners", Name: "debug-me"}, &p); err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}
		_, err := g.Clientset.CoreV1().Pods("kestra-runners").UpdateEphemeralContainers(ctx, "debug-me", &p, metav1.UpdateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no-privileged: spec.ephemeralContainers[0].securityContext.privileged") {
			t.Fatalf("want the ephemeral container refused, got %v", err)
		}
		p.Spec.EphemeralContainers[0].SecurityContext = nil
		// No kubelet runs here: the start gate never ran, and the kubelet may
		// start an ephemeral container before the init containers end.
		_, err = g.Clientset.CoreV1().Pods("kestra-runners").UpdateEphemeralContainers(ctx, "debug-me", &p, metav1.UpdateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "start-gate: spec.ephemeralContainers[0]") {
			t.Fatalf("want a plain ephemeral container refused while the gate has not passed, got %v", err)
		}
		// The gate passed, as the kubelet reports it.
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "kestra-runners", Name: "debug-me"}, &p); err != nil {
			t.Fatal(err)
		}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: policy.GateContainerName, Image: p.Spec.InitContainers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
		if err := g.Client.Status().Update(ctx, &p); err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		if _, err := g.Clientset.CoreV1().Pods("kestra-runners").UpdateEphemeralContainers(ctx, "debug-me", &p, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("a plain ephemeral container is hardened and admitted once the gate passed: %v", err)
		}
	})

	t.Run("removing the label on UPDATE does not escape", func(t *testing.T) {
		var p corev1.Pod
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "task"}, &p); err != nil {
			t.Fatal(err)
		}
		p.Labels["team"] = "data"
		if err := g.Client.Update(ctx, &p); err != nil {
			t.Fatalf("a safe label update is admitted: %v", err)
		}
		// Without its label the Pod would leave the managed policy's selector.
		delete(p.Labels, "kestra.io/taskrun-id")
		err := g.Client.Update(ctx, &p)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "metadata-egress-blocked") {
			t.Fatalf("want the label removal refused, got %v", err)
		}
	})
}

func allowAll(ns, name string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
}

func TestMetadataEgressGuarantee(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	key := func(ns string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: managed.Name} }

	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	t.Run("the managed policy appears in a new guarded namespace", func(t *testing.T) {
		var np networkingv1.NetworkPolicy
		framework.Eventually(t, func() error { return g.Client.Get(ctx, key("runners"), &np) })
		if len(np.Spec.Egress) != 2 || len(np.Spec.Egress[0].To) != 2 || np.Spec.Egress[0].To[0].IPBlock.CIDR != "0.0.0.0/0" {
			t.Errorf("managed policy spec = %+v", np.Spec)
		}
		// The second rule lets DNS reach node-local DNS, and nothing else.
		if dns := np.Spec.Egress[len(np.Spec.Egress)-1]; len(dns.To) != 1 || dns.To[0].IPBlock.CIDR != "169.254.20.10/32" || len(dns.Ports) != 2 || dns.Ports[0].Port.IntValue() != 53 {
			t.Errorf("managed policy's DNS rule = %+v", dns)
		}
	})

	t.Run("deleting it is undone", func(t *testing.T) {
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: managed.Name}}
		if err := g.Client.Delete(ctx, np); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, func() error {
			var got networkingv1.NetworkPolicy
			if err := g.Client.Get(ctx, key("runners"), &got); err != nil {
				return err
			}
			if got.UID == np.UID {
				return fmt.Errorf("not deleted yet")
			}
			return nil
		})
	})

	t.Run("editing it is undone", func(t *testing.T) {
		var np networkingv1.NetworkPolicy
		if err := g.Client.Get(ctx, key("runners"), &np); err != nil {
			t.Fatal(err)
		}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		if err := g.Client.Update(ctx, &np); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, func() error {
			var got networkingv1.NetworkPolicy
			if err := g.Client.Get(ctx, key("runners"), &got); err != nil {
				return err
			}
			if len(got.Spec.Egress[0].To) != 2 {
				return fmt.Errorf("still edited: %+v", got.Spec.Egress)
			}
			return nil
		})
	})

	// The server runs as the control plane's admin here (its SelfSubjectReview
	// says so): the writes above are kestra-guard's own. Anyone else with
	// every right on NetworkPolicies in the namespace is refused.
	t.Run("another user can neither edit nor delete it", func(t *testing.T) {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: "netpol-admin"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"*"}}}}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: "netpol-admin"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "netpol-admin"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}}}
		for _, o := range []client.Object{role, rb} {
			if err := g.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		alice := g.UserClient(t, "alice")
		var np networkingv1.NetworkPolicy
		framework.Eventually(t, func() error { return alice.Get(ctx, key("runners"), &np) })
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		err := alice.Update(ctx, &np)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "update of NetworkPolicy runners/kestra-guard-block-metadata by alice: only kestra-guard changes its managed policy") {
			t.Errorf("alice's update to egress [{}]: want refused by kestra-guard, got %v", err)
		}
		// Selecting no Pod reopens nothing by itself: only the managed-policy
		// rule refuses it.
		np.Spec.Egress = nil
		if err := alice.Get(ctx, key("runners"), &np); err != nil {
			t.Fatal(err)
		}
		np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"selects": "nothing"}}
		err = alice.Update(ctx, &np)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "update of NetworkPolicy runners/kestra-guard-block-metadata by alice") {
			t.Errorf("alice's update to a podSelector that selects nothing: want refused by kestra-guard, got %v", err)
		}
		err = alice.Delete(ctx, &np)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "delete of NetworkPolicy runners/kestra-guard-block-metadata by alice") {
			t.Errorf("alice's delete: want refused by kestra-guard, got %v", err)
		}
		other := allowAll("runners", "to-pods-alice")
		other.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}}
		if err := alice.Create(ctx, other); err != nil {
			t.Fatalf("alice's own harmless policy: %v", err)
		}
		if err := alice.Delete(ctx, other); err != nil {
			t.Errorf("alice deleting her own policy: %v", err)
		}
	})

	t.Run("a reopening policy is refused in a guarded namespace", func(t *testing.T) {
		err := g.Client.Create(ctx, allowAll("runners", "allow-all"))
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "spec.egress[0] allows egress to every address") {
			t.Fatalf("want refused, got %v", err)
		}
		only := allowAll("runners", "imds-only")
		only.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.169.254/32"}}}}}}
		err = g.Client.Create(ctx, only)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "169.254.170.2") {
			t.Fatalf("excepting only IMDS must be refused naming another endpoint, got %v", err)
		}
		safe := allowAll("runners", "to-pods")
		safe.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}}
		if err := g.Client.Create(ctx, safe); err != nil {
			t.Fatalf("a policy towards Pods only is fine: %v", err)
		}
	})

	// A namespace selected by label only: an allow-all policy created before
	// any task runner keeps the namespace open, so a runner is refused in
	// enforce mode and warned in audit mode.
	for _, mode := range []string{"enforce", "audit"} {
		t.Run("a task runner in a namespace left open, "+mode, func(t *testing.T) {
			ns := "open-" + mode
			g.CreateNamespace(t, ns, map[string]string{scope.ModeLabel: mode})
			if err := g.Client.Create(ctx, allowAll(ns, "allow-all")); err != nil {
				t.Fatalf("not guarded yet, so allowed: %v", err)
			}
			g.Warnings.Take()
			err := g.WarnClient.Create(ctx, kestraDefaultPod(ns, "task"))
			warnings := strings.Join(g.Warnings.Take(), "\n")
			want := "NetworkPolicy/" + ns + "/allow-all.spec.egress[0]"
			if mode == "enforce" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "metadata-egress-blocked: "+want) {
					t.Fatalf("want refused naming %s, got %v", want, err)
				}
				return
			}
			if err != nil || !strings.Contains(warnings, "enforce would deny: metadata-egress-blocked: "+want) {
				t.Fatalf("want admitted with a warning naming %s, got %v, warnings:\n%s", want, err, warnings)
			}
		})
	}
}
