package policy

import (
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// MutatePatch gives Mutate's Pod and patch without the "field=value" lines.
func TestMutatePatchSameAsMutate(t *testing.T) {
	e := testEngine(t, nil)
	files, err := filepath.Glob("testdata/pods/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture Pods: %v", err)
	}
	pods := map[string]*corev1.Pod{"minimal": minimalPod(), "bare": {Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}}
	for _, f := range files {
		pods[f] = loadPod(t, f)
	}
	for name, p := range pods {
		for _, scope := range []Scope{ScopePod, ScopeEphemeral} {
			described, quiet := p.DeepCopy(), p.DeepCopy()
			want := e.Options().Mutate(described, scope)
			got := e.Options().MutatePatch(quiet, scope)
			if got.Changes != nil {
				t.Errorf("%s: MutatePatch built changes %v", name, got.Changes)
			}
			if !reflect.DeepEqual(got.Patch, want.Patch) || !reflect.DeepEqual(quiet, described) {
				t.Errorf("%s scope %d: MutatePatch patch %v, Mutate patch %v", name, scope, got.Patch, want.Patch)
			}
		}
	}
}
