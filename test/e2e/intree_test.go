//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// Case 10: kestra-guard installed with admission.mode both, then scaled to
// 0. The API server's own policies, generated from the rules, still refuse
// unsafe task runners, and still admit a Kestra-shaped one mutated (start
// gate included), which runs hardened on the node. It runs last (file
// order): it takes kestra-guard down, and puts the webhook mode back when
// it ends, waiting until kestra-guard answers again.
func TestInTreeWhileGuardIsDown(t *testing.T) {
	ctx := context.Background()
	both := chartValues()
	both["admission"] = map[string]any{"mode": "both"}
	bothObjs, err := chart.Render("kestra-guard", guardNS, both)
	if err != nil {
		t.Fatal(err)
	}
	webhookObjs, err := chart.Render("kestra-guard", guardNS, chartValues())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restoreWebhookMode(t, bothObjs, webhookObjs) })
	for _, o := range bothObjs {
		if err := framework.Apply(ctx, cl, o.DeepCopy()); err != nil {
			t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}

	// The API server starts enforcing a new policy when its informers see
	// it: wait (allowed to be slow) until a host-network task runner is
	// refused by a ValidatingAdmissionPolicy while kestra-guard still runs.
	logf("admission.mode both: waiting for the in-tree policies to refuse a host-network task runner")
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		p := taskPod("intree-wait", []string{"true"})
		p.Spec.HostNetwork = true
		_, err := cs.CoreV1().Pods(runnerNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"), nil
	}); err != nil {
		t.Fatalf("the in-tree policies are not in force: %v", err)
	}

	logf("scaling kestra-guard to 0 and waiting until its Service has no endpoint")
	scale := []byte(`{"spec":{"replicas":0}}`)
	if _, err := cs.AppsV1().Deployments(guardNS).Patch(ctx, "kestra-guard", types.MergePatchType, scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 3*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(guardNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=kestra-guard"})
		if err != nil || len(pods.Items) > 0 {
			return false, nil
		}
		slices, err := cs.DiscoveryV1().EndpointSlices(guardNS).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kestra-guard"})
		if err != nil {
			return false, nil
		}
		for _, s := range slices.Items {
			if len(s.Endpoints) > 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("kestra-guard did not go down: %v", err)
	}

	// The mutation's binding is in force too (its informer may lag the
	// validating ones'): a dry-run Kestra-shaped Pod comes back mutated.
	if err := poll(ctx, time.Minute, func() (bool, error) {
		got, err := cs.CoreV1().Pods(runnerNS).Create(ctx, kestraPod("intree-wait"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && mutated(got), nil
	}); err != nil {
		t.Fatalf("the in-tree mutation does not harden a Kestra-shaped Pod with kestra-guard down: %v", err)
	}

	// Each unsafe task runner is refused on the first attempt, by one of
	// kestra-guard's in-tree policies (no replica can answer): the deny
	// policy, or for host network the egress policy, which refuses it too
	// (the API server names the first policy that refuses).
	unsafe := map[string]func(*corev1.Pod){
		"host-network": func(p *corev1.Pod) { p.Spec.HostNetwork = true },
		"privileged": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		},
		"root": func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(0))}
		},
		"host-path": func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet"}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "creds", MountPath: "/creds"}}
		},
	}
	for name, mod := range unsafe {
		p := taskPod("intree-"+name, []string{"true"})
		mod(p)
		_, err := cs.CoreV1().Pods(runnerNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		want := []string{"ValidatingAdmissionPolicy 'kestra-guard-deny'"}
		if name == "host-network" {
			want = append(want, "ValidatingAdmissionPolicy 'kestra-guard-egress-deny'")
		}
		if err == nil || !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(err.Error(), w) }) {
			t.Errorf("%s task runner with kestra-guard down: %v; want it refused by %s", name, err, strings.Join(want, " or "))
			continue
		}
		t.Logf("%s: refused: %v", name, err)
	}

	p := create(t, runnerNS, kestraPod("intree-commands"))
	if len(p.Spec.InitContainers) == 0 || p.Spec.InitContainers[0].Name != policy.GateContainerName {
		b, _ := json.Marshal(p.Spec.InitContainers)
		t.Fatalf("Pod %s admitted with kestra-guard down without the start gate first: init containers %s", p.Name, b)
	}
	runsHardened(t, p)
	if code, msg := terminated(t, runnerNS, p.Name, policy.GateContainerName, time.Minute); code != 0 {
		t.Errorf("start gate exited %d (%q), want 0", code, msg)
	}
}

// restoreWebhookMode puts back what TestInTreeWhileGuardIsDown changed:
// the webhook mode's objects (the Pod webhooks' failurePolicy, two
// replicas) and no in-tree bindings; it returns once kestra-guard's webhook
// refuses a host-network task runner again.
func restoreWebhookMode(t *testing.T, bothObjs, webhookObjs []*unstructured.Unstructured) {
	ctx := context.Background()
	kept := map[string]bool{}
	for _, o := range webhookObjs {
		kept[o.GetKind()+"/"+o.GetName()] = true
		if err := framework.Apply(ctx, cl, o.DeepCopy()); err != nil {
			t.Errorf("restoring %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	for _, o := range bothObjs {
		if strings.HasSuffix(o.GetKind(), "Binding") && !kept[o.GetKind()+"/"+o.GetName()] {
			if err := cl.Delete(ctx, o.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	if err := poll(ctx, 4*time.Minute, func() (bool, error) {
		p := taskPod("restored", []string{"true"})
		p.Spec.HostNetwork = true
		_, err := cs.CoreV1().Pods(runnerNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "admission webhook") && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy"), nil
	}); err != nil {
		t.Errorf("the webhook mode is not back (kestra-guard refusing task runners, no in-tree binding): %v", err)
	}
}
