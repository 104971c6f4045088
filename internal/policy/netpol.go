package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Opening is one way a NetworkPolicy lets traffic reach a metadata address.
type Opening struct {
	Policy string // namespace/name
	Field  string // spec.egress[i] or spec.egress[i].to[j].ipBlock
	// Address is the metadata address (or sub-range) that is reachable.
	Address string
}

func (op Opening) String() string {
	return "NetworkPolicy " + op.Policy + " " + op.Field + " allows egress to " + op.Address
}

// EgressVerdict is the effective egress of one Pod towards the metadata ranges.
type EgressVerdict struct {
	// Selecting counts the egress policies that select the Pod.
	Selecting int
	// Openings lists every rule of those policies that reaches a metadata
	// address. The Pod is protected when Selecting is not zero and
	// Openings is empty.
	Openings []Opening
}

// Protected reports whether no metadata address is reachable.
func (v EgressVerdict) Protected() bool { return v.Selecting > 0 && len(v.Openings) == 0 }

// AnalyzeEgress decides, following the NetworkPolicy spec, whether pod can
// reach any address in metadata on any port or protocol. Egress is allowed
// when any policy of the Pod's namespace that selects it and has Egress in
// its policyTypes allows it; a Pod selected by none may reach everything.
// A rule that reaches only the node-local DNS addresses dns on port 53
// reopens nothing (PolicyOpenings).
func AnalyzeEgress(pod *corev1.Pod, policies []networkingv1.NetworkPolicy, metadata []netip.Prefix, dns []netip.Addr) EgressVerdict {
	return analyzeEgress(pod, policies, func(p *networkingv1.NetworkPolicy) []Opening { return PolicyOpenings(p, metadata, dns) })
}

// analyzeEgress is AnalyzeEgress with the openings of each policy given by
// openings (PolicyOpenings, or the engine's cache of it).
func analyzeEgress(pod *corev1.Pod, policies []networkingv1.NetworkPolicy, openings func(*networkingv1.NetworkPolicy) []Opening) EgressVerdict {
	var v EgressVerdict
	for i := range policies {
		p := &policies[i]
		matches, err := selectsForEgress(p, pod)
		if err != nil {
			// Fail closed: a selector that cannot be read may select the Pod
			// and cannot be counted on to protect it.
			v.Openings = append(v.Openings, Opening{Policy: namespaceOf(p.Namespace) + "/" + p.Name, Field: "spec.podSelector", Address: "an unknown set (invalid podSelector: " + err.Error() + ")"})
			continue
		}
		if !matches {
			continue
		}
		v.Selecting++
		v.Openings = append(v.Openings, openings(p)...)
	}
	return v
}

// SelectedForEgress reports whether an egress policy of the Pod's namespace
// selects it (or might: an unreadable selector counts), without analysing
// what the policies allow.
func SelectedForEgress(pod *corev1.Pod, policies []networkingv1.NetworkPolicy) bool {
	for i := range policies {
		if matches, err := selectsForEgress(&policies[i], pod); matches || err != nil {
			return true
		}
	}
	return false
}

// selectsForEgress reports whether p restricts the egress of pod.
func selectsForEgress(p *networkingv1.NetworkPolicy, pod *corev1.Pod) (bool, error) {
	if namespaceOf(p.Namespace) != namespaceOf(pod.Namespace) || !HasEgress(p) {
		return false, nil
	}
	return selectorMatches(&p.Spec.PodSelector, pod.Labels)
}

func namespaceOf(ns string) string {
	if ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}

// HasEgress reports whether p restricts egress, with the API's defaulting:
// without policyTypes, a policy has Egress when it has egress rules.
func HasEgress(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return len(p.Spec.Egress) > 0
	}
	return slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// PolicyOpenings lists the egress rules of p that allow traffic to an
// address in metadata, whichever Pods p selects. Ports never close the way
// (any port is a way), except that a rule whose ports are all named matches
// no ipBlock destination: a named port resolves only on a destination Pod;
// and a rule whose ports are all DNS (53, UDP or TCP) does not reach the
// node-local DNS addresses dns (which lie in a metadata range, but are no
// metadata service: the configuration refuses a known endpoint there).
func PolicyOpenings(p *networkingv1.NetworkPolicy, metadata []netip.Prefix, dns []netip.Addr) []Opening {
	if !HasEgress(p) {
		return nil
	}
	var out []Opening
	for i := range p.Spec.Egress {
		r := &p.Spec.Egress[i]
		if onlyNamedPorts(r.Ports) {
			continue
		}
		var allowedDNS []netip.Addr
		if onlyDNSPorts(r.Ports) {
			allowedDNS = dns
		}
		if len(r.To) == 0 {
			field := "spec.egress[" + strconv.Itoa(i) + "]"
			out = append(out, Opening{Policy: namespaceOf(p.Namespace) + "/" + p.Name, Field: field, Address: "every address (the rule has no \"to\")"})
			continue
		}
		for j := range r.To {
			b := r.To[j].IPBlock
			if b == nil {
				continue // Pod and namespace selectors choose Pods, never the metadata service
			}
			if addr, open := ipBlockReaches(b, metadata, allowedDNS); open {
				field := "spec.egress[" + strconv.Itoa(i) + "]"
				out = append(out, Opening{Policy: namespaceOf(p.Namespace) + "/" + p.Name, Field: field + ".to[" + strconv.Itoa(j) + "].ipBlock", Address: addr})
			}
		}
	}
	return out
}

// onlyDNSPorts reports whether every port of a rule is DNS: port 53 (no
// range past it) over UDP or TCP.
func onlyDNSPorts(ports []networkingv1.NetworkPolicyPort) bool {
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.Type != intstr.Int || p.Port.IntVal != 53 || (p.EndPort != nil && *p.EndPort != 53) ||
			(p.Protocol != nil && *p.Protocol != corev1.ProtocolUDP && *p.Protocol != corev1.ProtocolTCP) {
			return false
		}
	}
	return true
}

func onlyNamedPorts(ports []networkingv1.NetworkPolicyPort) bool {
	if len(ports) == 0 {
		return false
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.Type != intstr.String {
			return false
		}
	}
	return true
}

// knownEndpoints are named in messages in preference to a sub-range.
// The configuration refuses them as node-local DNS addresses.
var knownEndpoints = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"),
	netip.MustParseAddr("169.254.170.23"),
	netip.MustParseAddr("169.254.42.42"),
	netip.MustParseAddr("169.254.0.23"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("fd00:ec2::23"),
	netip.MustParseAddr("fd20:ce::254"),
	netip.MustParseAddr("fd00:c1::a9fe:a9fe"),
	netip.MustParseAddr("fd00:a9fe:a9fe::1"),
	netip.MustParseAddr("fd00:100::100:200"),
	netip.MustParseAddr("fd00:42::42"),
	netip.MustParseAddr("fe80::a9fe:a9fe"),
	netip.MustParseAddr("168.63.129.16"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
	netip.MustParseAddr("64:ff9b::a9fe:a9fe"),
}

// ipBlockReaches reports whether cidr minus except (and minus the DNS
// addresses dns) holds any metadata address, and names one. A block that
// cannot be parsed is taken as open; an except that cannot be parsed, or is
// of another family, excludes nothing.
func ipBlockReaches(b *networkingv1.IPBlock, metadata []netip.Prefix, dns []netip.Addr) (string, bool) {
	cidr, err := ParseCIDR(b.CIDR)
	if err != nil {
		return "an unknown range (invalid cidr " + strconv.Quote(b.CIDR) + ")", true
	}
	var buf [8]netip.Prefix
	except := buf[:0]
	written4 := !strings.Contains(b.CIDR, ":")
	for _, e := range b.Except {
		// An except of another address family than its cidr (an IPv6 or
		// IPv4-mapped IPv6 block under an IPv4 cidr, or the reverse) has no
		// defined meaning: a CNI may ignore it, so it excludes nothing.
		ep, err := netip.ParsePrefix(strings.TrimSpace(e))
		if err != nil || ep.Addr().Is4In6() || ep.Addr().Is4() != written4 {
			continue
		}
		except = append(except, ep.Masked())
	}
	for _, a := range dns {
		if a.Is4() == written4 {
			except = append(except, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, m := range metadata {
		if !cidr.Overlaps(m) {
			continue
		}
		region := m
		if cidr.Bits() > m.Bits() {
			region = cidr
		}
		hole, open := uncovered(region, except)
		if !open {
			continue
		}
		for _, a := range knownEndpoints {
			if region.Contains(a) && !slices.ContainsFunc(except, func(e netip.Prefix) bool { return e.Contains(a) }) {
				return a.String(), true
			}
		}
		if hole.IsSingleIP() {
			return hole.Addr().String(), true
		}
		return hole.String() + " (metadata range " + m.String() + ")", true
	}
	return "", false
}

// selectorMatches evaluates a label selector with Kubernetes' semantics
// (NotIn and DoesNotExist match a Pod without the key) without converting
// it, so that a passing Pod costs no allocation.
func selectorMatches(s *metav1.LabelSelector, podLabels map[string]string) (bool, error) {
	for k, v := range s.MatchLabels {
		if got, ok := podLabels[k]; !ok || got != v {
			return false, nil
		}
	}
	for _, e := range s.MatchExpressions {
		val, has := podLabels[e.Key]
		var ok bool
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			if len(e.Values) == 0 {
				return false, fmt.Errorf("key %q: operator In needs values", e.Key)
			}
			ok = has && slices.Contains(e.Values, val)
		case metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				return false, fmt.Errorf("key %q: operator NotIn needs values", e.Key)
			}
			ok = !has || !slices.Contains(e.Values, val)
		case metav1.LabelSelectorOpExists:
			ok = has
		case metav1.LabelSelectorOpDoesNotExist:
			ok = !has
		default:
			return false, fmt.Errorf("key %q: %q is not a valid label selector operator", e.Key, e.Operator)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// ParseCIDR parses a CIDR; an IPv4-mapped IPv6 CIDR is read as the IPv4
// range it maps, since a dual-stack node may route it so.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return p, err
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
	}
	return p.Masked(), nil
}

// uncovered returns a part of p that no prefix in except covers.
func uncovered(p netip.Prefix, except []netip.Prefix) (netip.Prefix, bool) {
	inside := false
	for _, e := range except {
		if e.Bits() <= p.Bits() && e.Contains(p.Addr()) {
			return netip.Prefix{}, false
		}
		if e.Overlaps(p) {
			inside = true
		}
	}
	if !inside {
		return p, true
	}
	lo, hi := split(p)
	if h, ok := uncovered(lo, except); ok {
		return h, true
	}
	return uncovered(hi, except)
}

// split halves p, which must be shorter than its address.
func split(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits()
	b := p.Addr().AsSlice()
	lo := netip.PrefixFrom(p.Addr(), bits+1)
	b[bits/8] |= 0x80 >> (bits % 8)
	hiAddr, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(hiAddr, bits+1)
}
