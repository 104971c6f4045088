package managed

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Reconciler keeps the managed policy in every guarded namespace: runner
// namespaces, and namespaces where it was applied at admission. It recreates
// it when deleted and repairs it when edited. It is leader-elected.
type Reconciler struct {
	Client client.Client
	Log    logr.Logger
	// SpecFor says what the managed policy of a namespace should be.
	SpecFor func(ns *corev1.Namespace) Namespace
	// Writes, when set, counts the policies written (NewWrites).
	Writes *prometheus.CounterVec
	// Limiter paces the writes; nil: WriteRate per second, WriteBurst at once.
	Limiter *rate.Limiter

	once sync.Once
}

// WriteRate and WriteBurst pace the managed policies written: a first start
// in a cluster with thousands of runner namespaces, or a mass delete, writes
// them at this pace (each goes through kestra-guard's own NetworkPolicy
// webhook) rather than as fast as the API server answers.
const (
	WriteRate  = 20
	WriteBurst = 10
)

func (r *Reconciler) limiter() *rate.Limiter {
	r.once.Do(func() {
		if r.Limiter == nil {
			r.Limiter = rate.NewLimiter(WriteRate, WriteBurst)
		}
	})
	return r.Limiter
}

// Reasons the managed policy is written, the values of the reason label of
// kestra_guard_managed_networkpolicy_writes_total.
const (
	// Created: it was missing in a runner namespace (first reconcile).
	Created = "created"
	// Recreated: someone deleted it.
	Recreated = "recreated"
	// Repaired: someone edited it.
	Repaired = "repaired"
)

// NewWrites is the counter of managed policies written, by reason; every
// reason starts at 0, so that the first repair shows as an increase.
func NewWrites() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kestra_guard_managed_networkpolicy_writes_total",
		Help: "Managed NetworkPolicies written by the controller, by reason: created (missing in a runner namespace), recreated (deleted), repaired (edited).",
	}, []string{"reason"})
	for _, r := range []string{Created, Recreated, Repaired} {
		c.WithLabelValues(r)
	}
	return c
}

// Namespace is what the managed policy of one namespace should be.
type Namespace struct {
	Spec Spec
	// RunnerNamespace: every Pod is a task runner, so the policy is kept
	// there from the start, not only once a task runner was admitted.
	RunnerNamespace bool
	// Active: the managed policy is enabled and the namespace is guarded
	// (not excluded, mode not off).
	Active bool
}

// Requests keyed by namespace name come from namespaces; requests with a
// namespace come from the managed policy itself (it existed there).
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nsName := req.Name
	fromPolicy := req.Namespace != ""
	if fromPolicy {
		nsName = req.Namespace
	}
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, client.ObjectKey{Name: nsName}, &ns); err != nil || ns.DeletionTimestamp != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	want := r.SpecFor(&ns)
	spec := want.Spec
	if !want.Active || (!want.RunnerNamespace && !fromPolicy) {
		return reconcile.Result{}, nil
	}
	var current networkingv1.NetworkPolicy
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: nsName, Name: Name}, &current)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	existed := err == nil
	if existed && UpToDate(&current, &Build(nsName, spec).Spec) {
		return reconcile.Result{}, nil
	}
	if err := r.limiter().Wait(ctx); err != nil {
		return reconcile.Result{}, err
	}
	if err := Ensure(ctx, r.Client, nsName, spec); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) { // namespace terminating
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	reason := Created
	if existed {
		reason = Repaired
		r.Log.Info("repaired the edited managed NetworkPolicy", "namespace", nsName, "networkPolicy", Name)
	} else {
		if fromPolicy {
			reason = Recreated
		}
		r.Log.Info("created the managed NetworkPolicy", "namespace", nsName, "networkPolicy", Name, "recreated", fromPolicy)
	}
	if r.Writes != nil {
		r.Writes.WithLabelValues(reason).Inc()
	}
	return reconcile.Result{}, nil
}

// MaxRetryDelay bounds the wait between two attempts at one namespace. The
// managed policy goes through kestra-guard's own NetworkPolicy webhook, which
// refuses everything (failurePolicy Fail) until the Service has a ready
// endpoint; with controller-runtime's default bound (about 16 min) a fresh
// install left runner namespaces without the policy for minutes after
// kestra-guard became ready.
const MaxRetryDelay = 10 * time.Second

// retryLimiter is controller-runtime's default limiter with the per-item
// exponential delay capped at MaxRetryDelay.
func retryLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, MaxRetryDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// SetupWithManager watches namespaces and the managed policies.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	isManaged := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == Name })
	return ctrl.NewControllerManagedBy(mgr).
		Named("managed-networkpolicy").
		WithOptions(controller.Options{RateLimiter: retryLimiter()}).
		For(&corev1.Namespace{}, builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.GenerationChangedPredicate{}))).
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}}
		}), builder.WithPredicates(isManaged)).
		Complete(r)
}
