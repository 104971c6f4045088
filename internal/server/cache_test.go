package server

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kestra-guard/kestra-guard/internal/config"
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
	np := &networkingv1.NetworkPolicy{ObjectMeta: meta(), Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	ns := &corev1.Namespace{ObjectMeta: meta()}
	pod := &corev1.Pod{ObjectMeta: meta()}
	for _, o := range []metav1.Object{np, ns, pod} {
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
	if len(np.Spec.PolicyTypes) != 1 {
		t.Errorf("the NetworkPolicy's spec was changed: %+v", np.Spec)
	}
	if pod.Annotations == nil {
		t.Error("a Pod's annotations were dropped; rules read them (AppArmor)")
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
