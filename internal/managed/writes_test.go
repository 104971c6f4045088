package managed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Each write of the managed policy is counted under its reason: created in a
// runner namespace, recreated after a delete, repaired after an edit; a
// reconcile that finds the policy current counts nothing. The alert
// KestraGuardManagedPolicyRepaired reads this counter.
func TestReconcileCountsWrites(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "runners"}}
	// The fake client's server-side apply cannot merge this policy: apply
	// here is create or replace, which is what the reconciler asks for.
	c := fake.NewClientBuilder().WithObjects(ns).WithInterceptorFuncs(interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, _ ...client.ApplyOption) error {
			b, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			var np networkingv1.NetworkPolicy
			if err := json.Unmarshal(b, &np); err != nil {
				return err
			}
			var old networkingv1.NetworkPolicy
			if err := c.Get(ctx, client.ObjectKeyFromObject(&np), &old); err != nil {
				return c.Create(ctx, &np)
			}
			np.ResourceVersion = old.ResourceVersion
			return c.Update(ctx, &np)
		},
	}).Build()
	spec := Spec{Metadata: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}
	writes := NewWrites()
	r := &Reconciler{Client: c, Log: logr.Discard(), Writes: writes,
		SpecFor: func(*corev1.Namespace) Namespace { return Namespace{Spec: spec, RunnerNamespace: true, Active: true} }}
	ctx := context.Background()
	fromNamespace := reconcile.Request{NamespacedName: types.NamespacedName{Name: "runners"}}
	fromPolicy := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "runners", Name: Name}}
	step := func(what string, req reconcile.Request, want map[string]float64) {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for reason, n := range want {
			if got := testutil.ToFloat64(writes.WithLabelValues(reason)); got != n {
				t.Errorf("%s: kestra_guard_managed_networkpolicy_writes_total{reason=%q} = %v; want %v", what, reason, got, n)
			}
		}
	}
	if got := testutil.CollectAndCount(writes); got != 3 {
		t.Errorf("a new counter has %d series; want 3 at 0 (created, recreated, repaired)", got)
	}
	step("first reconcile", fromNamespace, map[string]float64{Created: 1, Recreated: 0, Repaired: 0})
	step("policy current", fromNamespace, map[string]float64{Created: 1, Recreated: 0, Repaired: 0})

	var np networkingv1.NetworkPolicy
	key := client.ObjectKey{Namespace: "runners", Name: Name}
	if err := c.Get(ctx, key, &np); err != nil {
		t.Fatal(err)
	}
	np.Spec.Egress = nil
	if err := c.Update(ctx, &np); err != nil {
		t.Fatal(err)
	}
	step("after an edit", fromPolicy, map[string]float64{Created: 1, Recreated: 0, Repaired: 1})

	if err := c.Delete(ctx, &np); err != nil {
		t.Fatal(err)
	}
	step("after a delete", fromPolicy, map[string]float64{Created: 1, Recreated: 1, Repaired: 1})
}

// Writes are paced: a start that finds many runner namespaces without the
// managed policy writes them at the limiter's rate, not all at once.
func TestReconcilePacesWrites(t *testing.T) {
	const namespaces = 25
	var objs []client.Object
	for i := range namespaces {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("runners-%d", i)}})
	}
	var mu sync.Mutex
	var applied []time.Time
	c := fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			mu.Lock()
			applied = append(applied, time.Now())
			mu.Unlock()
			return nil
		},
	}).Build()
	spec := Spec{Metadata: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}
	r := &Reconciler{Client: c, Log: logr.Discard(), Limiter: rate.NewLimiter(100, 5),
		SpecFor: func(*corev1.Namespace) Namespace { return Namespace{Spec: spec, RunnerNamespace: true, Active: true} }}
	start := time.Now()
	for i := range namespaces {
		if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: fmt.Sprintf("runners-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// 5 at once, then 20 at 100 per second: at least 0.2 s.
	if len(applied) != namespaces {
		t.Fatalf("%d policies written, want %d", len(applied), namespaces)
	}
	if d := applied[len(applied)-1].Sub(start); d < 190*time.Millisecond {
		t.Errorf("%d policies written in %s: not paced (want at least 0.2 s at 100/s after a burst of 5)", namespaces, d)
	}
	if l := (&Reconciler{}).limiter(); l.Limit() != WriteRate || l.Burst() != WriteBurst {
		t.Errorf("default pace %v/s, burst %d; want %v/s, %d", l.Limit(), l.Burst(), WriteRate, WriteBurst)
	}
}
