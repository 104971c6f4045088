package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// randomPolicies draws NetworkPolicies from the features the analyzer must
// follow: selectors that do and do not match, policyTypes with and without
// defaulting, empty rules and empty "to", ipBlocks with excepts inside them
// (IPv4 and IPv6), numeric, ranged and named ports, Pod and namespace peers,
// and policies of another namespace.
func randomPolicies(r *rand.Rand) []networkingv1.NetworkPolicy {
	blocks := []struct {
		cidr   string
		except []string
	}{
		{"0.0.0.0/0", nil}, {"0.0.0.0/0", []string{"169.254.0.0/16"}}, {"0.0.0.0/0", []string{"169.254.169.254/32"}},
		{"0.0.0.0/0", []string{"169.254.0.0/16", "168.63.129.16/32", "100.100.100.200/32"}},
		{"169.254.0.0/16", nil}, {"169.254.0.0/16", []string{"169.254.169.254/32", "169.254.170.0/24"}},
		{"168.63.0.0/16", nil}, {"100.64.0.0/10", nil}, {"10.0.0.0/8", nil},
		{"::/0", nil}, {"::/0", []string{"fe80::/10", "fd00:ec2::254/128", "fd00:ec2::23/128"}}, {"fd00::/8", []string{"fd00:ec2::/32"}},
		{"fe80::/10", nil},
	}
	selectors := []metav1.LabelSelector{
		{}, {MatchLabels: map[string]string{"kestra.io/taskrun-id": "1"}}, {MatchLabels: map[string]string{"app": "web"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpExists}}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpDoesNotExist}}},
		// NotIn only on a key the Pod has: cyclonus v0.5.6 holds that NotIn
		// never matches a Pod without the key, where Kubernetes' selectors
		// (and the analyzer, which uses them) match it.
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"2"}}}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"1"}}}},
	}
	ports := [][]networkingv1.NetworkPolicyPort{
		nil,
		{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(80))}},
		{{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(1000)), EndPort: ptr.To[int32](2000)}},
		{{Port: ptr.To(intstr.FromString("http"))}},
		{{Protocol: ptr.To(corev1.ProtocolSCTP)}},
	}
	var out []networkingv1.NetworkPolicy
	for i := range 1 + r.IntN(3) {
		p := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: pick(r, "kestra", "kestra", "kestra", "other")}}
		p.Spec.PodSelector = pick(r, selectors...)
		p.Spec.PolicyTypes = pick(r, nil, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress})
		for range r.IntN(3) {
			rule := networkingv1.NetworkPolicyEgressRule{Ports: pick(r, ports...)}
			for range r.IntN(3) {
				switch r.IntN(4) {
				case 0:
					rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}})
				case 1:
					rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}})
				default:
					b := pick(r, blocks...)
					rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b.cidr, Except: b.except}})
				}
			}
			p.Spec.Egress = append(p.Spec.Egress, rule)
		}
		out = append(out, p)
	}
	return out
}

// The analyzer agrees with cyclonus, an independent NetworkPolicy engine, on
// generated policies: the Pod is open exactly when cyclonus lets it reach a
// metadata endpoint on some port and protocol. The metadata ranges are the
// endpoints' single addresses here, so that cyclonus, which judges one
// address at a time, can be asked about every address the analyzer weighs.
func TestAnalyzerAgreesWithCyclonus(t *testing.T) {
	var metadata []netip.Prefix
	for _, a := range knownEndpoints {
		metadata = append(metadata, netip.PrefixFrom(a, a.BitLen()))
	}
	pod := minimalPod()
	r := rand.New(rand.NewPCG(3, 4))
	disagreements := 0
	for n := range 3000 {
		pols := randomPolicies(r)
		ours := !AnalyzeEgress(pod, pols, metadata).Protected()
		// cyclonus reads policies as the API server stores them: policyTypes
		// defaulted to Ingress, plus Egress when there are egress rules.
		ptrs := make([]*networkingv1.NetworkPolicy, len(pols))
		for i := range pols {
			ptrs[i] = pols[i].DeepCopy()
			if len(ptrs[i].Spec.PolicyTypes) == 0 {
				ptrs[i].Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
				if len(ptrs[i].Spec.Egress) > 0 {
					ptrs[i].Spec.PolicyTypes = append(ptrs[i].Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
				}
			}
		}
		oracle := matcher.BuildNetworkPolicies(false, ptrs)
		theirs := false
		for _, a := range knownEndpoints {
			for _, port := range []int{80, 1500, 9999} {
				for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
					res := oracle.IsTrafficAllowed(&matcher.Traffic{
						Source: &matcher.TrafficPeer{Internal: &matcher.InternalPeer{
							PodLabels: pod.Labels, Namespace: pod.Namespace, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": pod.Namespace}}},
						Destination:  &matcher.TrafficPeer{IP: a.String()},
						ResolvedPort: port, Protocol: proto,
					})
					theirs = theirs || res.Egress.IsAllowed()
				}
			}
		}
		if ours != theirs {
			disagreements++
			if disagreements <= 3 {
				t.Errorf("case %d: analyzer open=%v, cyclonus open=%v for %+v", n, ours, theirs, pols)
			}
		}
	}
	if disagreements > 0 {
		t.Errorf("%d disagreements of 3000", disagreements)
	}
}
