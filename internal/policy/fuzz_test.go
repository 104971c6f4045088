package policy

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Evaluation and mutation of any decodable Pod never panic and are
// deterministic; a mutated Pod never gains a violation it did not have.
func FuzzEvaluate(f *testing.F) {
	for _, p := range []*corev1.Pod{minimalPod(), withHostPath(minimalPod(), "/var/run/../run", false)} {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"spec":{"ephemeralContainers":[{"name":"x","securityContext":{"runAsUser":0}}],"hostNetwork":true}}`))
	e := testEngine(f, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p corev1.Pod
		if json.Unmarshal(b, &p) != nil {
			return
		}
		in := &Input{Pod: &p, NetworkPolicies: []networkingv1.NetworkPolicy{blockingPolicy()}, NetworkPoliciesKnown: true}
		r1, r2 := e.Evaluate(in), e.Evaluate(in)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("non-deterministic: %v vs %v", r1, r2)
		}
		m := p.DeepCopy()
		mut := e.Options().Mutate(m, ScopePod)
		if got := applyPatch(t, &p, mut.Patch); !equality.Semantic.DeepEqual(got, m) {
			t.Fatalf("the patch does not give the mutated Pod: %s", cmp.Diff(m, got))
		}
		before := map[string]bool{}
		for _, v := range r1.Violations {
			before[v.Rule] = true
		}
		for _, v := range e.Evaluate(&Input{Pod: m, NetworkPolicies: in.NetworkPolicies, NetworkPoliciesKnown: true}).Violations {
			if !before[v.Rule] {
				t.Fatalf("mutation introduced %v", v)
			}
		}
	})
}

func FuzzAnalyzeEgress(f *testing.F) {
	for _, c := range egressCases() {
		b, _ := json.Marshal(c.policies)
		f.Add(b)
	}
	o := testEngine(f, nil).Options()
	f.Fuzz(func(t *testing.T, b []byte) {
		var pols []networkingv1.NetworkPolicy
		if json.Unmarshal(b, &pols) != nil {
			return
		}
		v1, v2 := AnalyzeEgress(minimalPod(), pols, o.Metadata), AnalyzeEgress(minimalPod(), pols, o.Metadata)
		if !reflect.DeepEqual(v1, v2) {
			t.Fatalf("non-deterministic: %v vs %v", v1, v2)
		}
	})
}
