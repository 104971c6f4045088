package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// With the API server's ServiceAccount admission plugin on, as in every real
// cluster, the plugin injects the kube-api-access-* volume before
// kestra-guard sees the Pod; mutation turns the token off and removes that
// volume and its mounts, and the Pod is admitted without a token.
func TestInjectedTokenRemoved(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})

	p := kestraDefaultPod("runners", "token")
	if err := g.Client.Create(ctx, p); err != nil {
		t.Fatalf("the Kestra default Pod must be admitted once mutated: %v", err)
	}
	var got corev1.Pod
	if err := g.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
		t.Fatal(err)
	}
	if a := got.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automountServiceAccountToken = %v, want false", a)
	}
	for _, v := range got.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") || (v.Projected != nil && len(v.Projected.Sources) > 0 && v.Projected.Sources[0].ServiceAccountToken != nil) {
			t.Errorf("token volume %s left in the Pod", v.Name)
		}
	}
	for _, cs := range [][]corev1.Container{got.Spec.InitContainers, got.Spec.Containers} {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				if m.MountPath == policy.ServiceAccountTokenDir {
					t.Errorf("container %s still mounts %s from %s", c.Name, m.MountPath, m.Name)
				}
			}
		}
	}

	// A Pod outside kestra-guard's scope keeps what the plugin injected:
	// the plugin is on, and the removal is kestra-guard's.
	g.CreateNamespace(t, "apps", nil)
	other := kestraDefaultPod("apps", "app")
	other.Labels = nil
	if err := g.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := g.Client.Get(ctx, client.ObjectKeyFromObject(other), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Volumes) == 0 || !strings.HasPrefix(got.Spec.Volumes[len(got.Spec.Volumes)-1].Name, "kube-api-access-") {
		t.Errorf("the ServiceAccount plugin injected no token volume outside kestra-guard's scope: %v", got.Spec.Volumes)
	}
}
