package policy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func egressPolicy(name string, rules ...networkingv1.NetworkPolicyEgressRule) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kestra"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      rules,
		},
	}
}

func toBlock(cidr string, except ...string) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}}}
}

func withPorts(r networkingv1.NetworkPolicyEgressRule, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyEgressRule {
	r.Ports = ports
	return r
}

func edit(p networkingv1.NetworkPolicy, f func(*networkingv1.NetworkPolicy)) networkingv1.NetworkPolicy {
	p = *p.DeepCopy()
	f(&p)
	return p
}

type egressCase struct {
	name     string
	policies []networkingv1.NetworkPolicy
	open     string // "" when protected; else a fragment of the first opening
}

func egressCases() []egressCase {
	managed := blockingPolicy()
	allowAll := egressPolicy("allow-all", networkingv1.NetworkPolicyEgressRule{})
	tcp := ptr.To(corev1.ProtocolTCP)
	return []egressCase{
		{name: "managed policy alone", policies: []networkingv1.NetworkPolicy{managed}},
		{name: "deny all egress", policies: []networkingv1.NetworkPolicy{egressPolicy("deny-all")}},
		{name: "no policy at all", open: "no NetworkPolicy with Egress"},
		{name: "allow-all next to the managed one", policies: []networkingv1.NetworkPolicy{managed, allowAll}, open: "kestra/allow-all spec.egress[0] allows egress to every address"},
		{name: "0.0.0.0/0 excepting only 169.254.169.254/32", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("imds-only", toBlock("0.0.0.0/0", "169.254.169.254/32"))},
			open: "kestra/imds-only spec.egress[0].to[0].ipBlock allows egress to 169.254.170.2"},
		{name: "IPv6 left open", policies: []networkingv1.NetworkPolicy{egressPolicy("v4-only", toBlock("0.0.0.0/0", "169.254.0.0/16", "168.63.129.16/32", "100.100.100.200/32", "192.0.0.192/32"), toBlock("::/0"))},
			open: "spec.egress[1].to[0].ipBlock allows egress to fe80::a9fe:a9fe"},
		{name: "IPv4-mapped except under an IPv4 cidr excludes nothing", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("mapped", toBlock("0.0.0.0/0", "::ffff:169.254.0.0/112", "::ffff:168.63.129.16/128", "::ffff:100.100.100.200/128"))},
			open: "kestra/mapped spec.egress[0].to[0].ipBlock allows egress to 169.254.169.254"},
		{name: "IPv6 except under an IPv4 cidr excludes nothing", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("v6-except", toBlock("169.254.169.254/32", "fe80::/10"))},
			open: "allows egress to 169.254.169.254"},
		{name: "IPv4 except under an IPv6 cidr excludes nothing", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("v4-except", toBlock("::/0", "fe80::/10", "fd00:ec2::254/128", "169.254.0.0/16"))},
			open: "allows egress to fd00:ec2::23"},
		{name: "policy selecting other pods", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		})}},
		{name: "matchExpressions selecting the pod", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpExists}}}
		})}, open: "allow-all"},
		{name: "matchExpressions excluding the pod", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpDoesNotExist}}}
		})}},
		{name: "NotIn on a key the pod lacks selects it", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}}
		})}, open: "allow-all"},
		{name: "ingress-only policy protects nothing", policies: []networkingv1.NetworkPolicy{edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		})}, open: "no NetworkPolicy with Egress"},
		{name: "policyTypes omitted with egress rules means Egress", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PolicyTypes = nil
		})}, open: "allow-all"},
		{name: "policyTypes omitted without egress rules means Ingress only", policies: []networkingv1.NetworkPolicy{edit(egressPolicy("ingress"), func(p *networkingv1.NetworkPolicy) {
			p.Spec.PolicyTypes = nil
		})}, open: "no NetworkPolicy with Egress"},
		{name: "link-local allowed on one port", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("port-80", withPorts(toBlock("169.254.0.0/16"), networkingv1.NetworkPolicyPort{Protocol: tcp, Port: ptr.To(intstr.FromInt32(80))}))},
			open: "port-80 spec.egress[0].to[0].ipBlock allows egress to 169.254.169.254"},
		{name: "port range to Azure WireServer", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("range", withPorts(toBlock("168.63.0.0/16"), networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(1)), EndPort: ptr.To[int32](65535)}))},
			open: "168.63.129.16"},
		{name: "named port cannot match an ipBlock", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("named", withPorts(toBlock("0.0.0.0/0"), networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromString("http"))}))}},
		{name: "pod and namespace peers are pods, not metadata", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("peers", networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{
			{PodSelector: &metav1.LabelSelector{}}, {NamespaceSelector: &metav1.LabelSelector{}},
		}})}},
		{name: "except split in halves covers link-local", policies: []networkingv1.NetworkPolicy{egressPolicy("halves",
			toBlock("0.0.0.0/0", "169.254.0.0/17", "169.254.128.0/17", "168.63.129.16/32", "100.100.100.200/32", "192.0.0.192/32"))}},
		{name: "except one half short", policies: []networkingv1.NetworkPolicy{egressPolicy("half",
			toBlock("0.0.0.0/0", "169.254.128.0/17", "168.63.129.16/32", "100.100.100.200/32", "192.0.0.192/32"))}, open: "allows egress to 169.254.42.42"},
		{name: "IPv4-mapped IPv6 block reaches IMDS", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("mapped", toBlock("::ffff:169.254.0.0/112"))}, open: "169.254.169.254"},
		{name: "a policy in another namespace", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) { p.Namespace = "elsewhere" })}},
		{name: "Alibaba endpoint alone", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("ali", toBlock("100.100.100.200/32"))}, open: "100.100.100.200"},
		{name: "NAT64 image of IMDS", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("nat64", toBlock("64:ff9b::a9fe:a9fe/128"))}, open: "allows egress to 64:ff9b::a9fe:a9fe"},
		{name: "IPv6 everywhere but link-local leaves the NAT64 image open", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("v6", toBlock("::/0", "fe80::/10",
			"fd00:ec2::254/128", "fd00:ec2::23/128", "fd20:ce::254/128", "fd00:c1::a9fe:a9fe/128", "fd00:a9fe:a9fe::1/128", "fd00:100::100:200/128", "fd00:42::42/128"))}, open: "allows egress to 64:ff9b::a9fe:a9fe"},
		{name: "GCP IPv6 endpoint", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("gcp6", toBlock("fd20:ce::/32"))}, open: "fd20:ce::254"},
		{name: "Oracle IPv6 endpoint", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("oci6", toBlock("fd00:c1::/32"))}, open: "fd00:c1::a9fe:a9fe"},
		{name: "Akamai IPv6 endpoint", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("akamai6", toBlock("fd00:a9fe:a9fe::1/128"))}, open: "fd00:a9fe:a9fe::1"},
		{name: "Oracle Classic", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("classic", toBlock("192.0.0.0/24"))}, open: "192.0.0.192"},
		{name: "DNS to node-local DNS", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("nodelocal", withPorts(toBlock("169.254.20.10/32"),
			networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))}, networkingv1.NetworkPolicyPort{Protocol: tcp, Port: ptr.To(intstr.FromInt32(53))}))}},
		{name: "node-local DNS on another port", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("nodelocal-80", withPorts(toBlock("169.254.20.10/32"),
			networkingv1.NetworkPolicyPort{Protocol: tcp, Port: ptr.To(intstr.FromInt32(80))}))}, open: "169.254.20.10"},
		{name: "node-local DNS with a port range past 53", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("nodelocal-range", withPorts(toBlock("169.254.20.10/32"),
			networkingv1.NetworkPolicyPort{Protocol: tcp, Port: ptr.To(intstr.FromInt32(53)), EndPort: ptr.To[int32](80)}))}, open: "169.254.20.10"},
		{name: "DNS port to all of link-local", policies: []networkingv1.NetworkPolicy{managed, egressPolicy("dns-linklocal", withPorts(toBlock("169.254.0.0/16"),
			networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))}))}, open: "169.254.169.254"},
		{name: "invalid selector fails closed", policies: []networkingv1.NetworkPolicy{managed, edit(allowAll, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
		})}, open: "invalid podSelector"},
	}
}

func TestAnalyzeEgress(t *testing.T) {
	e := testEngine(t, nil)
	for _, tc := range egressCases() {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(e, minimalPod(), append([]networkingv1.NetworkPolicy{}, tc.policies...)...)
			if tc.policies == nil {
				res = e.Evaluate(&Input{Pod: minimalPod(), NetworkPoliciesKnown: true})
			}
			if tc.open == "" {
				if len(res.Violations) != 0 {
					t.Fatalf("want protected, got %v", res.Violations)
				}
				return
			}
			if len(res.Violations) == 0 {
				t.Fatalf("want open (%s), got protected", tc.open)
			}
			v := res.Violations[0]
			if v.Rule != "metadata-egress-blocked" || !strings.Contains(v.Detail, tc.open) {
				t.Errorf("got %v, want metadata-egress-blocked mentioning %q", v, tc.open)
			}
		})
	}
}
