package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// newInformer builds the cache's informers as controller-runtime does, but
// hands the NetworkPolicy informer only the policies kestra-guard reads
// (egressOnly): in a cluster most policies restrict ingress alone, and each
// one cached cost about a kilobyte of heap that grew with the cluster.
func newInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
	if _, ok := obj.(*networkingv1.NetworkPolicy); ok {
		lw = egressOnly{lw: toolscache.ToListerWatcherWithContext(lw), streams: !watchlist.DoesClientNotSupportWatchListSemantics(lw)}
	}
	return toolscache.NewSharedIndexInformer(lw, obj, resync, idx)
}

// cachedPolicy reports whether the cache keeps p: every rule, the audit and
// the managed-policy controller read only the policies that restrict egress
// (policy.HasEgress; one that does not cannot select a Pod for egress nor
// reopen a way), and the managed policy whatever it says, so that an edit
// removing its egress is seen and repaired.
func cachedPolicy(p *networkingv1.NetworkPolicy) bool {
	return p.Name == managed.Name || policy.HasEgress(p)
}

// egressOnly is a ListerWatcher of NetworkPolicies that leaves out those
// cachedPolicy does not keep. A policy changed so that the cache no longer
// keeps it is handed on as deleted: it may have restricted egress before.
type egressOnly struct {
	lw toolscache.ListerWatcherWithContext
	// streams is whether lw supports streaming lists (watch-list): the
	// filter does, and says what lw says.
	streams bool
}

// IsWatchListSemanticsUnSupported tells the reflector whether it may list
// through a watch (watchlist.DoesClientNotSupportWatchListSemantics).
func (f egressOnly) IsWatchListSemanticsUnSupported() bool { return !f.streams }

var _ toolscache.ListerWatcherWithContext = egressOnly{}

func (f egressOnly) List(opts metav1.ListOptions) (runtime.Object, error) {
	return f.ListWithContext(context.Background(), opts)
}

func (f egressOnly) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return f.WatchWithContext(context.Background(), opts)
}

func (f egressOnly) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := f.lw.ListWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	kept := make([]runtime.Object, 0, len(items)/4)
	for _, o := range items {
		if p, ok := o.(*networkingv1.NetworkPolicy); !ok || cachedPolicy(p) {
			kept = append(kept, o)
		}
	}
	// SetList copies the kept policies into a new array: the informer keeps
	// pointers into it, and the page's own array would keep every policy of
	// the page alive.
	if err := meta.SetList(obj, kept); err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	return obj, nil
}

func (f egressOnly) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := f.lw.WatchWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	return newKeptWatch(w), nil
}

// keptWatch is w with keptEvent applied to each event. Unlike watch.Filter,
// Stop also ends the goroutine while it waits to hand on an event nobody
// reads any more (a reflector that stopped watching).
type keptWatch struct {
	w    watch.Interface
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func newKeptWatch(w watch.Interface) *keptWatch {
	k := &keptWatch{w: w, out: make(chan watch.Event), stop: make(chan struct{})}
	go k.run()
	return k
}

func (k *keptWatch) run() {
	defer close(k.out)
	for e := range k.w.ResultChan() {
		e, keep := keptEvent(e)
		if !keep {
			continue
		}
		select {
		case k.out <- e:
		case <-k.stop:
			return
		}
	}
}

func (k *keptWatch) ResultChan() <-chan watch.Event { return k.out }

func (k *keptWatch) Stop() {
	k.once.Do(func() {
		close(k.stop)
		k.w.Stop()
	})
}

// keptEvent passes on the events of the policies the cache keeps, bookmarks
// and errors, and every deletion; a policy it does not keep is never added,
// and a change that makes it one the cache does not keep deletes it. So
// every change of a policy the cache does not keep reaches the informer's
// handlers as a deletion of an object it never held: the store ignores it,
// and the managed-policy controller's handler (the only one) drops every
// policy but the managed one, which the cache always keeps.
func keptEvent(e watch.Event) (watch.Event, bool) {
	p, ok := e.Object.(*networkingv1.NetworkPolicy)
	if !ok || cachedPolicy(p) {
		return e, true
	}
	switch e.Type {
	case watch.Added:
		return e, false
	case watch.Modified:
		e.Type = watch.Deleted
	}
	return e, true
}
