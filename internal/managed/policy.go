// Package managed builds and keeps the NetworkPolicy kestra-guard installs in
// every guarded namespace to block egress to the metadata addresses.
package managed

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Name is the fixed name of the managed NetworkPolicy.
const Name = "kestra-guard-block-metadata"

// FieldManager owns the managed policy's fields in server-side apply.
const FieldManager = "kestra-guard"

// ManagedByLabel marks objects kestra-guard owns.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// Spec says what the managed policy allows.
type Spec struct {
	// Selector chooses the task-runner Pods; empty selects every Pod.
	Selector metav1.LabelSelector
	Metadata []netip.Prefix
	// DNS are node-local DNS addresses (inside a metadata range) the policy
	// lets task runners reach on port 53, UDP and TCP.
	DNS []netip.Addr
	// Strict allows only AllowedCIDRs and DNS to kube-dns Pods.
	Strict       bool
	AllowedCIDRs []netip.Prefix
}

// Build returns the managed policy for namespace ns.
func Build(ns string, s Spec) *networkingv1.NetworkPolicy {
	var peers []networkingv1.NetworkPolicyPeer
	allowed := s.AllowedCIDRs
	if !s.Strict {
		allowed = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	for _, a := range allowed {
		b := &networkingv1.IPBlock{CIDR: a.String()}
		for _, m := range s.Metadata {
			if m.Overlaps(a) && m.Bits() > a.Bits() {
				b.Except = append(b.Except, m.String())
			}
		}
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: b})
	}
	rules := []networkingv1.NetworkPolicyEgressRule{{To: peers}}
	dns := intstr.FromInt32(53)
	dnsPorts := []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolUDP), Port: &dns}, {Protocol: ptr.To(corev1.ProtocolTCP), Port: &dns}}
	if len(s.DNS) > 0 {
		var to []networkingv1.NetworkPolicyPeer
		for _, a := range s.DNS {
			to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(a, a.BitLen()).String()}})
		}
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: to, Ports: dnsPorts})
	}
	if s.Strict {
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			}},
			Ports: dnsPorts,
		})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns, Labels: map[string]string{ManagedByLabel: "kestra-guard"},
			Annotations: map[string]string{"kestra-guard.io/purpose": "blocks task-runner egress to cloud metadata services; kestra-guard recreates and repairs it"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: s.Selector,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      rules,
		},
	}
}

// Find returns the managed policy among pols, or nil.
func Find(pols []networkingv1.NetworkPolicy) *networkingv1.NetworkPolicy {
	for i := range pols {
		if pols[i].Name == Name {
			return &pols[i]
		}
	}
	return nil
}

// With is pols with the managed policy of namespace ns (spec s) added, as
// it will be before a task runner is admitted there, unless pols holds it
// already. pols itself is never written: the result is a new slice when
// the policy is added.
func With(pols []networkingv1.NetworkPolicy, ns string, s Spec) []networkingv1.NetworkPolicy {
	if Find(pols) != nil {
		return pols
	}
	out := make([]networkingv1.NetworkPolicy, len(pols), len(pols)+1)
	copy(out, pols)
	return append(out, *Build(ns, s))
}

// UpToDate reports whether current, the managed policy found in a
// namespace, has the spec want (Build's): the one test of "is it as it
// should be" the webhook and the controller share.
func UpToDate(current *networkingv1.NetworkPolicy, want *networkingv1.NetworkPolicySpec) bool {
	return equality.Semantic.DeepEqual(&current.Spec, want)
}

// Ensure creates or repairs the managed policy in ns with server-side apply.
func Ensure(ctx context.Context, c client.Client, ns string, s Spec) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(Build(ns, s))
	if err != nil {
		return fmt.Errorf("converting NetworkPolicy %s/%s: %w", ns, Name, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("applying NetworkPolicy %s/%s: %w", ns, Name, err)
	}
	return nil
}
