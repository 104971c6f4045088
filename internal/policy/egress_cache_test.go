package policy

import (
	"fmt"
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// served gives each policy a UID and a resourceVersion, as the API server does.
func served(pols []networkingv1.NetworkPolicy, rv string) []networkingv1.NetworkPolicy {
	out := make([]networkingv1.NetworkPolicy, len(pols))
	for i, p := range pols {
		p.UID, p.ResourceVersion = types.UID(fmt.Sprintf("uid-%s", p.Name)), rv
		out[i] = p
	}
	return out
}

// The cached analysis gives what AnalyzeEgress gives, on a miss and on a hit,
// for every egress case.
func TestOpeningsCacheAgreesWithAnalyzeEgress(t *testing.T) {
	o := testEngine(t, nil).Options()
	pod := minimalPod()
	for i, c := range egressCases() {
		pols := served(c.policies, fmt.Sprint(i))
		want := AnalyzeEgress(pod, pols, o.Metadata, o.DNS)
		for _, pass := range []string{"miss", "hit"} {
			if got := analyzeEgress(pod, pols, o.policyOpenings); !reflect.DeepEqual(got, want) {
				t.Errorf("%s (%s): cached %+v, AnalyzeEgress %+v", c.name, pass, got, want)
			}
		}
	}
}

// A policy edited to reopen metadata egress (same UID, new resourceVersion)
// is analysed again: the cache never keeps a Pod admitted on the old content.
func TestOpeningsCacheSeesEdits(t *testing.T) {
	e := testEngine(t, nil)
	pod := minimalPod()
	v1 := served([]networkingv1.NetworkPolicy{blockingPolicy()}, "1")
	if res := e.Evaluate(&Input{Pod: pod, NetworkPolicies: v1, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}); res.Denied() {
		t.Fatalf("the blocking policy denies: %+v", res.Violations)
	}
	v2 := served([]networkingv1.NetworkPolicy{blockingPolicy()}, "2")
	v2[0].Spec.Egress[0].To[0].IPBlock.Except = nil // 0.0.0.0/0 with no except: metadata open
	res := e.Evaluate(&Input{Pod: pod, NetworkPolicies: v2, NetworkPoliciesKnown: true, NetworkPoliciesServed: true})
	if !res.Denied() || res.Violations[0].Rule != MetadataEgressBlockedID {
		t.Fatalf("the edited policy (new resourceVersion) is not analysed again: %+v", res.Violations)
	}
}

// Manifests (check) are never answered from the cache, even when they carry
// the UID and resourceVersion of a policy analysed before: two files may
// share both with different rules.
func TestOpeningsCacheIgnoresManifests(t *testing.T) {
	e := testEngine(t, nil)
	pod := minimalPod()
	blocking := served([]networkingv1.NetworkPolicy{blockingPolicy()}, "1")
	if res := e.Evaluate(&Input{Pod: pod, NetworkPolicies: blocking, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}); res.Denied() {
		t.Fatalf("the blocking policy denies: %+v", res.Violations)
	}
	open := served([]networkingv1.NetworkPolicy{blockingPolicy()}, "1") // same UID and resourceVersion
	open[0].Spec.Egress[0].To[0].IPBlock.Except = nil
	if res := e.Evaluate(&Input{Pod: pod, NetworkPolicies: open, NetworkPoliciesKnown: true}); !res.Denied() {
		t.Fatal("a manifest sharing a served policy's UID and resourceVersion was answered from the cache")
	}
}

// The cache holds at most maxCachedPolicies versions.
func TestOpeningsCacheBounded(t *testing.T) {
	defer func(n int64) { maxCachedPolicies = n }(maxCachedPolicies)
	maxCachedPolicies = 3
	o := testEngine(t, nil).Options()
	for rv := range 10 {
		o.policyOpenings(&served([]networkingv1.NetworkPolicy{blockingPolicy()}, fmt.Sprint(rv))[0])
		n := 0
		o.openings.m.Range(func(any, any) bool { n++; return true })
		if n > 3 {
			t.Fatalf("after %d versions the cache holds %d, want at most 3", rv+1, n)
		}
	}
}
