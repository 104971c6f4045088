package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
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
		// Excepts that cover a metadata range in pieces, or all but an edge.
		{"0.0.0.0/0", []string{"169.254.0.0/17", "169.254.128.0/17", "168.63.129.16/32", "100.100.100.200/32"}},
		{"0.0.0.0/0", []string{"169.254.0.0/17", "169.254.128.0/18", "168.63.129.16/32", "100.100.100.200/32"}},
		{"169.254.0.0/16", []string{"169.254.0.0/24", "169.254.1.0/24"}},
		{"169.254.0.0/16", []string{"169.254.0.0/17", "169.254.128.0/17"}},
		{"169.254.0.0/16", []string{"169.254.0.1/32"}},
		{"169.254.255.255/32", nil}, {"169.254.0.0/32", nil}, {"169.255.0.0/16", nil}, {"169.253.255.255/32", nil},
		{"::/0", []string{"fe80::/11", "fea0::/11", "fd00:ec2::254/128", "fd00:ec2::23/128"}},
		{"::/0", []string{"fe80::/11", "fd00:ec2::/32"}},
		{"fe80::/10", []string{"fe80::/11", "fea0::/12"}},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", nil}, {"fec0::/10", nil},
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
				case 2:
					rule.To = append(rule.To, networkingv1.NetworkPolicyPeer{IPBlock: randomBlock(r)})
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

// randomBlock draws an ipBlock around a metadata range: a cidr that holds
// the range, lies inside it or next to it, with zero to three excepts inside
// the cidr, often near the range's edges.
func randomBlock(r *rand.Rand) *networkingv1.IPBlock {
	m := netip.MustParsePrefix(pick(r, DefaultMetadataCIDRs...))
	bitLen := m.Addr().BitLen()
	// The cidr: the range itself, a shorter prefix holding it, or a longer
	// one inside it (at its first, last or a random address).
	var cidr netip.Prefix
	switch r.IntN(3) {
	case 0:
		cidr = m
	case 1:
		cidr = netip.PrefixFrom(m.Addr(), r.IntN(m.Bits()+1)).Masked()
	default:
		cidr = netip.PrefixFrom(randomAddrIn(r, m), m.Bits()+r.IntN(bitLen-m.Bits()+1)).Masked()
	}
	b := &networkingv1.IPBlock{CIDR: cidr.String()}
	for range r.IntN(4) {
		e := netip.PrefixFrom(randomAddrIn(r, cidr), cidr.Bits()+r.IntN(bitLen-cidr.Bits()+1)).Masked()
		b.Except = append(b.Except, e.String())
	}
	return b
}

// randomAddrIn picks the first, the last or a random address of p, or one
// next to a known endpoint inside it.
func randomAddrIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	switch r.IntN(4) {
	case 0:
		return p.Addr()
	case 1:
		return lastAddr(p)
	case 2:
		for _, a := range knownEndpoints {
			if p.Contains(a) {
				return a
			}
		}
	}
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// sampleAddresses lists the addresses of the metadata ranges at which
// reachability can change: the first and last address of each range, and of
// each cidr and except of the policies, with their neighbours, kept when
// they lie in a range. The set an ipBlock opens inside a range is a union of
// intervals, each starting at the range's first address, a cidr's first
// address or just after an except: if any metadata address is reachable,
// one of these is.
func sampleAddresses(pols []networkingv1.NetworkPolicy, metadata []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		if !a.IsValid() {
			return
		}
		for _, m := range metadata {
			if m.Contains(a) {
				out = append(out, a)
				return
			}
		}
	}
	edges := func(p netip.Prefix) {
		first, last := p.Masked().Addr(), lastAddr(p)
		add(first)
		add(last)
		add(first.Prev())
		add(last.Next())
	}
	for _, m := range metadata {
		edges(m)
	}
	for _, a := range knownEndpoints {
		add(a)
	}
	for i := range pols {
		for _, rule := range pols[i].Spec.Egress {
			for _, peer := range rule.To {
				if peer.IPBlock == nil {
					continue
				}
				for _, s := range append([]string{peer.IPBlock.CIDR}, peer.IPBlock.Except...) {
					if p, err := netip.ParsePrefix(s); err == nil {
						edges(p)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// cyclonusOpen asks cyclonus whether pod may reach one of addrs on some port
// and protocol, and returns the first such address.
func cyclonusOpen(pod *corev1.Pod, pols []networkingv1.NetworkPolicy, addrs []netip.Addr) (netip.Addr, bool) {
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
	for _, a := range addrs {
		for _, port := range []int{80, 1500, 9999} {
			for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP} {
				res := oracle.IsTrafficAllowed(&matcher.Traffic{
					Source: &matcher.TrafficPeer{Internal: &matcher.InternalPeer{
						PodLabels: pod.Labels, Namespace: pod.Namespace, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": pod.Namespace}}},
					Destination:  &matcher.TrafficPeer{IP: a.String()},
					ResolvedPort: port, Protocol: proto,
				})
				if res.Egress.IsAllowed() {
					return a, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// agreeWithCyclonus compares the analyzer with cyclonus on pols, with the
// default configuration's metadata ranges, and describes a disagreement.
func agreeWithCyclonus(pols []networkingv1.NetworkPolicy) (string, bool) {
	pod := minimalPod()
	metadata := defaultMetadata()
	v := AnalyzeEgress(pod, pols, metadata, nil)
	ours := !v.Protected()
	addr, theirs := cyclonusOpen(pod, pols, sampleAddresses(pols, metadata))
	if ours == theirs {
		return "", true
	}
	b, _ := json.Marshal(pols)
	return fmt.Sprintf("analyzer open=%v (%v), cyclonus open=%v (at %v) for %s", ours, v.Openings, theirs, addr, b), false
}

func defaultMetadata() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range DefaultMetadataCIDRs {
		out = append(out, netip.MustParsePrefix(s).Masked())
	}
	return out
}

// The analyzer agrees with cyclonus, an independent NetworkPolicy engine, on
// generated policies, with the configured metadata ranges (169.254.0.0/16,
// fe80::/10, ...): the Pod is open exactly when cyclonus lets it reach an
// address of a range on some port and protocol. cyclonus judges one address
// at a time, so it is asked about every address at which the answer can
// change (sampleAddresses): the edges of the ranges, of every cidr and of
// every except.
func TestAnalyzerAgreesWithCyclonus(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	disagreements := 0
	for n := range 3000 {
		if msg, ok := agreeWithCyclonus(randomPolicies(r)); !ok {
			disagreements++
			if disagreements <= 3 {
				t.Errorf("case %d: %s", n, msg)
			}
		}
	}
	if disagreements > 0 {
		t.Errorf("%d disagreements of 3000", disagreements)
	}
}

// The same comparison, on policies drawn from the fuzzer's seeds.
func FuzzAnalyzerAgreesWithCyclonus(f *testing.F) {
	for i := range uint64(8) {
		f.Add(i, i*7919)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		if msg, ok := agreeWithCyclonus(randomPolicies(rand.New(rand.NewPCG(a, b)))); !ok {
			t.Fatal(msg)
		}
	})
}
