package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
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
	pinnedV010, _ := e.At("v0.1.0")
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
		// A pin never denies what latest admits: moving it to latest adds
		// only the denials LatestWouldDeny lists.
		for _, v := range pinnedV010.Evaluate(in).Violations {
			if v.Action == Deny && !slices.ContainsFunc(r1.Violations, func(l Violation) bool { return l.Rule == v.Rule && l.Field == v.Field && l.Action == Deny }) {
				t.Fatalf("v0.1.0 denies %v, latest does not", v)
			}
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

// The egress analysis of any decodable list of NetworkPolicies never panics,
// is deterministic, and keeps the properties NetworkPolicy semantics give:
//   - adding an except to an ipBlock never opens more: every opening after it
//     was there before;
//   - excepting every metadata range closes that ipBlock;
//   - one more policy selecting the Pod with 0.0.0.0/0 (or ::/0) and no
//     except, or an egress rule with no "to", opens it.
func FuzzAnalyzeEgress(f *testing.F) {
	for _, c := range egressCases() {
		b, _ := json.Marshal(c.policies)
		f.Add(b)
	}
	o := testEngine(f, nil).Options()
	pod := minimalPod()
	f.Fuzz(func(t *testing.T, b []byte) {
		var pols []networkingv1.NetworkPolicy
		if json.Unmarshal(b, &pols) != nil {
			return
		}
		v := AnalyzeEgress(pod, pols, o.Metadata, o.DNS)
		if v2 := AnalyzeEgress(pod, pols, o.Metadata, o.DNS); !reflect.DeepEqual(v, v2) {
			t.Fatalf("non-deterministic: %v vs %v", v, v2)
		}
		before := map[string]bool{}
		for _, op := range v.Openings {
			before[op.Policy+" "+op.Field] = true
		}
		for i := range pols {
			for j := range pols[i].Spec.Egress {
				for k := range pols[i].Spec.Egress[j].To {
					if pols[i].Spec.Egress[j].To[k].IPBlock == nil {
						continue
					}
					for _, m := range o.Metadata {
						more := withExcept(pols, i, j, k, m.String())
						for _, op := range AnalyzeEgress(pod, more, o.Metadata, o.DNS).Openings {
							if !before[op.Policy+" "+op.Field] {
								t.Fatalf("excepting %s in policies[%d].spec.egress[%d].to[%d] opened %v", m, i, j, k, op)
							}
						}
					}
					all := withExcept(pols, i, j, k, metadataStrings(o.Metadata)...)
					field := fmt.Sprintf("spec.egress[%d].to[%d].ipBlock", j, k)
					if _, err := ParseCIDR(pols[i].Spec.Egress[j].To[k].IPBlock.CIDR); err != nil {
						continue // an unreadable cidr stays open, whatever the excepts
					}
					if p, err := netip.ParsePrefix(strings.TrimSpace(pols[i].Spec.Egress[j].To[k].IPBlock.CIDR)); err == nil && p.Addr().Is4In6() {
						continue // an IPv4-mapped cidr: no except has a defined meaning under it, so it stays open
					}
					for _, op := range PolicyOpenings(&all[i], o.Metadata, o.DNS) {
						if op.Field == field {
							t.Fatalf("excepting every metadata range left %v open", op)
						}
					}
				}
			}
		}
		for _, rule := range []networkingv1.NetworkPolicyEgressRule{toBlock("0.0.0.0/0"), toBlock("::/0"), {}} {
			opener := egressPolicy("opener", rule)
			opener.Namespace = pod.Namespace
			v := AnalyzeEgress(pod, append(slices.Clone(pols), opener), o.Metadata, o.DNS)
			if v.Protected() || !slices.ContainsFunc(v.Openings, func(op Opening) bool { return op.Policy == pod.Namespace+"/opener" }) {
				t.Fatalf("a policy allowing %+v does not open the Pod: %v", rule, v)
			}
		}
	})
}

// withExcept returns a copy of pols with excepts added to
// policies[i].spec.egress[j].to[k].ipBlock.
func withExcept(pols []networkingv1.NetworkPolicy, i, j, k int, except ...string) []networkingv1.NetworkPolicy {
	out := slices.Clone(pols)
	out[i] = *pols[i].DeepCopy()
	b := out[i].Spec.Egress[j].To[k].IPBlock
	b.Except = append(b.Except, except...)
	return out
}

func metadataStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
