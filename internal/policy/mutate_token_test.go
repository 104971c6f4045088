package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

// injectedToken adds what the API server's ServiceAccount plugin adds to a
// Pod that does not turn the token off, before any webhook sees it.
func injectedToken(name string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o644),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			}}}})
		mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: ServiceAccountTokenDir}
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range cs {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			}
		}
	}
}

// When mutation turns the token off it also removes the volume and mounts
// the ServiceAccount plugin injected; the patch gives the same Pod, and the
// rule then passes.
func TestMutateRemovesInjectedToken(t *testing.T) {
	e := testEngine(t, nil)
	p := tweak(minimalPod(), func(p *corev1.Pod) {
		p.Spec.AutomountServiceAccountToken = nil
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
		injectedToken("kube-api-access-x7k2p")(p)
	})
	if res := evaluate(e, p); !slices.ContainsFunc(res.Violations, func(v Violation) bool {
		return v.Rule == "no-service-account-token" && strings.HasPrefix(v.Field, "spec.volumes[1].projected")
	}) {
		t.Fatalf("the injected token is mounted: want a violation on the volume, got %v", res.Violations)
	}
	orig := p.DeepCopy()
	mut := e.Options().Mutate(p, ScopePod)
	if got := applyPatch(t, orig, mut.Patch); !equality.Semantic.DeepEqual(got, p) {
		t.Fatalf("the patch does not give the mutated Pod: %s", cmp.Diff(p, got))
	}
	if slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return strings.HasPrefix(v.Name, "kube-api-access-") }) {
		t.Errorf("injected volume left: %v", p.Spec.Volumes)
	}
	visitContainers(&p.Spec, func(c containerRef) {
		if mountsAt(c.Container, ServiceAccountTokenDir) {
			t.Errorf("%s still mounts the token", c.Path())
		}
	})
	if p.Spec.Containers[0].VolumeMounts[0].Name != "kestra-files" {
		t.Errorf("a user mount was removed: %v", p.Spec.Containers[0].VolumeMounts)
	}
	if res := evaluate(e, p); len(res.Violations) != 0 {
		t.Errorf("after mutation: %v", res.Violations)
	}
}

// Only the plugin's exact shape is removed: a projected token the user wrote
// stays, and the rule reports it even with the flag off.
func TestMutateKeepsUserTokenVolume(t *testing.T) {
	e := testEngine(t, nil)
	for name, f := range map[string]func(p *corev1.Pod){
		"another name": injectedToken("my-token"),
		"another shape": func(p *corev1.Pod) {
			injectedToken("kube-api-access-abcde")(p)
			v := &p.Spec.Volumes[len(p.Spec.Volumes)-1]
			v.Projected.Sources = v.Projected.Sources[:1]
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := tweak(minimalPod(), f)
			n := len(p.Spec.Volumes)
			e.Options().Mutate(p, ScopePod)
			if len(p.Spec.Volumes) != n+1 { // + the /tmp emptyDir
				t.Errorf("volumes = %v, want the user's token volume kept", p.Spec.Volumes)
			}
			res := evaluate(e, p)
			if len(res.Violations) != 1 || res.Violations[0].Rule != "no-service-account-token" || !strings.Contains(res.Violations[0].Field, "serviceAccountToken") {
				t.Errorf("want one no-service-account-token violation on the volume, got %v", res.Violations)
			}
		})
	}
}
