package managed

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Both variants of the managed policy keep a task runner from every
// metadata address (NAT64 images included), as the egress analyzer sees it,
// with DNS to the node-local DNS address allowed, and select what they
// should.
func TestManagedPolicyBlocksMetadata(t *testing.T) {
	metadata := policy.MetadataRanges(policy.DefaultMetadataCIDRs)
	dns := []netip.Addr{netip.MustParseAddr(policy.DefaultNodeLocalDNS[0])}
	runner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{"kestra.io/taskrun-id": "x"}}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	selector := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpExists}}}
	for name, spec := range map[string]Spec{
		"allow all but metadata": {Metadata: metadata, DNS: dns, Selector: selector},
		"strict": {Metadata: metadata, DNS: dns, Selector: selector, Strict: true,
			AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/15"), netip.MustParsePrefix("::/0")}},
	} {
		t.Run(name, func(t *testing.T) {
			np := Build("ns", spec)
			if v := policy.AnalyzeEgress(runner, []networkingv1.NetworkPolicy{*np}, metadata, dns); !v.Protected() {
				t.Errorf("task runner not protected: %+v", v)
			}
			// The DNS rule is there: an analysis that does not know the
			// address is node-local DNS sees it as a way to 169.254.20.10.
			if v := policy.AnalyzeEgress(runner, []networkingv1.NetworkPolicy{*np}, metadata, nil); len(v.Openings) != 1 || v.Openings[0].Address != "169.254.20.10" {
				t.Errorf("without the DNS allowance the analysis finds %+v; want exactly the DNS rule to 169.254.20.10", v.Openings)
			}
			if v := policy.AnalyzeEgress(other, []networkingv1.NetworkPolicy{*np}, metadata, dns); v.Selecting != 0 {
				t.Errorf("the managed policy selects a Pod that is not a task runner")
			}
		})
	}
}

// Find, With and UpToDate are the one answer to "is the managed policy
// there", "the policies with it" and "is it as it should be", for the
// webhooks, check, audit and the controller.
func TestFindWithUpToDate(t *testing.T) {
	spec := Spec{Metadata: policy.MetadataRanges(policy.DefaultMetadataCIDRs)}
	other := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns"}}
	// A slice with room to spare: With must not write into it.
	pols := make([]networkingv1.NetworkPolicy, 1, 4)
	pols[0] = other
	got := With(pols, "ns", spec)
	if len(got) != 2 || Find(got) != &got[1] || got[1].Namespace != "ns" || !UpToDate(&got[1], &Build("ns", spec).Spec) {
		t.Fatalf("With = %+v, want the other policy and the managed one", got)
	}
	if spare := pols[:2]; spare[1].Name != "" {
		t.Errorf("With wrote the managed policy into the caller's slice: %+v", spare)
	}
	if Find(pols) != nil {
		t.Errorf("Find found the managed policy in %+v", pols)
	}
	if again := With(got, "ns", spec); len(again) != 2 {
		t.Errorf("With added the managed policy twice: %d policies", len(again))
	}

	// Up to date: what Build writes, as the API server returns it (an
	// empty list where Build leaves none); not once someone edits it.
	current := Build("ns", spec)
	current.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{}
	if !UpToDate(current, &Build("ns", spec).Spec) {
		t.Errorf("the managed policy as read back is not up to date")
	}
	current.Spec.Egress[0].To[0].IPBlock.Except = nil
	if UpToDate(current, &Build("ns", spec).Spec) {
		t.Errorf("an edited managed policy (excepts removed) is up to date")
	}
}
