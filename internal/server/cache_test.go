package server

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
)

// The manager's cache keeps of each object only what kestra-guard reads:
// managedFields never, the annotations of Namespaces and NetworkPolicies
// never; names, labels, UIDs, resourceVersions and specs always.
func TestCacheDropsWhatIsNotRead(t *testing.T) {
	c := config.Default()
	cfg, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cacheOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.DefaultTransform == nil {
		t.Fatal("the cache has no transform: every object is cached whole, managedFields included")
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "apps", Name: "x", UID: "u1", ResourceVersion: "7", Labels: map[string]string{"team": "a"},
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}}
	}
	spec := func() networkingv1.NetworkPolicySpec {
		return networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{}}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}
	}
	np := &networkingv1.NetworkPolicy{ObjectMeta: meta(), Spec: spec()}
	if _, err := opts.DefaultTransform(np); err != nil {
		t.Fatal(err)
	}
	if np.ManagedFields != nil || np.UID != "u1" || np.ResourceVersion != "7" || np.Name != "x" {
		t.Errorf("NetworkPolicy metadata in the cache: %+v", np.ObjectMeta)
	}
	managedNP := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: managed.Name}, Spec: spec()}
	ns := &corev1.Namespace{ObjectMeta: meta()}
	pod := &corev1.Pod{ObjectMeta: meta()}
	if _, err := opts.DefaultTransform(managedNP); err != nil {
		t.Fatal(err)
	}
	if len(managedNP.Spec.Ingress) != 1 {
		t.Error("the managed policy lost its ingress rules in the cache: an edit adding one would not be repaired")
	}
	if np.Labels != nil {
		t.Errorf("a NetworkPolicy keeps its labels, which nothing reads: %v", np.Labels)
	}
	if managedNP.Spec.PodSelector.MatchLabels["app"] != "web" {
		t.Error("the managed policy lost its podSelector")
	}
	for _, o := range []metav1.Object{ns, pod} {
		if _, err := opts.DefaultTransform(o); err != nil {
			t.Fatal(err)
		}
		if o.GetManagedFields() != nil {
			t.Errorf("%T keeps its managedFields in the cache", o)
		}
		if o.GetUID() != "u1" || o.GetResourceVersion() != "7" || o.GetLabels()["team"] != "a" || o.GetName() != "x" {
			t.Errorf("%T lost what kestra-guard reads: %+v", o, o)
		}
	}
	if np.Annotations != nil || ns.Annotations != nil {
		t.Errorf("annotations kept: NetworkPolicy %v, Namespace %v", np.Annotations, ns.Annotations)
	}
	if np.Spec.Ingress != nil {
		t.Errorf("the NetworkPolicy keeps its ingress rules, which nothing reads: %+v", np.Spec.Ingress)
	}
	if want := spec(); len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Egress) != 1 || np.Spec.PodSelector.MatchLabels["app"] != "web" {
		t.Errorf("the NetworkPolicy's egress part was changed: %+v, want %+v without ingress", np.Spec, want)
	}
	if pod.Annotations == nil {
		t.Error("a Pod's annotations were dropped; rules read them (AppArmor)")
	}
	ingressOnly := &networkingv1.NetworkPolicy{ObjectMeta: meta(), Spec: spec()}
	ingressOnly.Spec.PolicyTypes, ingressOnly.Spec.Egress = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, nil
	if _, err := opts.DefaultTransform(ingressOnly); err != nil {
		t.Fatal(err)
	}
	if len(ingressOnly.Spec.PodSelector.MatchLabels) != 0 || len(ingressOnly.Spec.PolicyTypes) != 1 {
		t.Errorf("an ingress-only policy is cached with %+v; want its policyTypes only", ingressOnly.Spec)
	}
	tomb := toolscache.DeletedFinalStateUnknown{Key: "apps/x"}
	if got, err := opts.DefaultTransform(tomb); err != nil || got != tomb {
		t.Errorf("a tombstone became %v, %v", got, err)
	}
	for o, c := range opts.ByObject {
		if _, ok := o.(*corev1.Pod); ok && (c.Label == nil || c.Label.Empty()) {
			t.Error("every Pod of the cluster is cached: want only those with the start gate's label")
		}
	}
}
