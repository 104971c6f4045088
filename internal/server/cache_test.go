package server

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"

	"github.com/kestra-guard/kestra-guard/internal/managed"
)

// The manager's cache keeps of each object only what kestra-guard reads:
// managedFields never, the annotations of Namespaces and NetworkPolicies
// never; names, labels, UIDs, resourceVersions and specs always.
func TestCacheDropsWhatIsNotRead(t *testing.T) {
	opts := DefaultCacheOptions(t)
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

// The NetworkPolicy informer holds only the policies that restrict egress
// and the managed one: a policy that becomes one of them is added, one that
// stops being one is removed, whether the informer learns it from its list
// or from its watch.
func TestCacheKeepsOnlyEgressPolicies(t *testing.T) {
	opts := DefaultCacheOptions(t)
	if opts.NewInformer == nil {
		t.Fatal("the cache builds its informers without a filter: every NetworkPolicy of the cluster is cached")
	}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	np := func(name string, types []networkingv1.PolicyType, rules ...networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: types, Egress: rules}}
	}
	src := fcache.NewFakeControllerSource()
	defer src.Shutdown()
	src.Add(np("ingress-only", ingress))
	src.Add(np("deny-egress", egress))
	src.Add(np("egress-rules-no-types", nil, networkingv1.NetworkPolicyEgressRule{}))
	src.Add(np(managed.Name, ingress)) // edited by someone: kept, to be repaired
	src.Add(np("becomes-egress", ingress))
	src.Add(np("stops-egress", egress))
	inf := opts.NewInformer(src, &networkingv1.NetworkPolicy{}, 0, toolscache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	names := func() []string {
		var out []string
		for _, o := range inf.GetStore().List() {
			out = append(out, o.(*networkingv1.NetworkPolicy).Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"deny-egress", "egress-rules-no-types", managed.Name, "stops-egress"}
	slices.Sort(want)
	if got := names(); !slices.Equal(got, want) {
		t.Errorf("after the list the cache holds %v; want %v", got, want)
	}
	src.Modify(np("becomes-egress", egress))
	src.Modify(np("stops-egress", ingress))
	src.Add(np("new-ingress-only", ingress))
	src.Add(np("new-egress", egress))
	want = []string{"becomes-egress", "deny-egress", "egress-rules-no-types", managed.Name, "new-egress"}
	slices.Sort(want)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = names(); slices.Equal(got, want) {
			return
		}
	}
	t.Errorf("after the watch's events the cache holds %v; want %v", got, want)
}

// A stopped watch ends its goroutine even when it holds an event nobody
// reads any more (a reflector that stopped watching reads nothing).
func TestKeptWatchStopsWithAnEventInFlight(t *testing.T) {
	running := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "(*keptWatch).run")
	}
	src := watch.NewFakeWithChanSize(1, false)
	w := newKeptWatch(src)
	src.Add(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "e"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}})
	w.Stop()
	// Waiting for the goroutine to see the stop, which may take a moment.
	for deadline := time.Now().Add(10 * time.Second); running() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watch's goroutine still runs 10 s after Stop, holding an event nobody reads")
		}
	}
}
