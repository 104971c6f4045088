// Package audit evaluates what already runs in a cluster with the same engine
// as admission: every task-runner Pod with the NetworkPolicies of its
// namespace, and every NetworkPolicy that reopens metadata egress in a
// guarded namespace.
package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// DefaultPageSize is how many objects one list call reads when the Auditor
// sets no PageSize. A page is read whole, then decoded, before it is judged:
// at 500 Pods a page (as stored, managedFields included) the buffers of one
// page were the largest part of the pass's peak heap at 100,000 Pods
// (BENCHMARKS.md, section 5).
const DefaultPageSize = 100

// Auditor reads the cluster through Reader.
type Auditor struct {
	// Reader reads Pods, and everything else when Cache is nil.
	Reader client.Reader
	// Cache, when set, is where Namespaces, NetworkPolicies and
	// PolicyExceptions are read: the server's informer cache, which holds
	// them anyway, so that a pass asks the API server for task runners only.
	Cache client.Reader
	// Config is the configuration compiled by the caller (config.Compile):
	// its engine, scope and settings, used as they are.
	Config *config.Compiled
	// Progress, when set, is told how far the audit got.
	Progress func(namespaces, pods int)
	// PageSize is how many objects one list call asks for (0:
	// DefaultPageSize).
	PageSize int
	// Pace, when set, is waited on before each list call to the API server
	// (not the cache): it spreads a pass's load on the API server, which
	// admits Pods at the same time, over time.
	Pace *rate.Limiter

	// seen are the PolicyExceptions read by the last run.
	seen []v1alpha1.PolicyException
}

// Run audits the given namespaces, or every namespace when none is given,
// and returns every result.
func (a *Auditor) Run(ctx context.Context, namespaces ...string) ([]report.Result, error) {
	var order []string
	byNS := map[string][]report.Result{}
	_, err := a.Stream(ctx, func(ns string, rs []report.Result) error {
		if _, again := byNS[ns]; !again {
			order = append(order, ns)
		}
		byNS[ns] = rs
		return nil
	}, namespaces...)
	if err != nil {
		return nil, err
	}
	var out []report.Result
	for _, ns := range order {
		out = append(out, byNS[ns]...)
	}
	return out, nil
}

// Stats counts what one run judged.
type Stats struct{ Namespaces, Pods int }

// Stream audits namespace by namespace and hands each one's results to
// found, keeping none once found returns: task-runner Pods and the
// NetworkPolicies of guarded namespaces. It reads only what it judges:
// every Pod of a runner namespace, and elsewhere the Pods the task-runner
// selector matches, listed with that selector (cluster-wide, page by page,
// when no namespace is given). A namespace whose Pods a cluster-wide list
// returns out of order is audited again with a list of its own, and found
// gets its complete results a second time: the last call wins.
func (a *Auditor) Stream(ctx context.Context, found func(ns string, rs []report.Result) error, namespaces ...string) (Stats, error) {
	r := &run{a: a, sc: a.Config.Scope, found: found, done: map[string]bool{}}
	a.seen = nil
	var nss []corev1.Namespace
	if len(namespaces) == 0 {
		var list corev1.NamespaceList
		if err := a.list(ctx, true, &list, "namespaces", ""); err != nil {
			return Stats{}, err
		}
		nss = list.Items
		var err error
		if r.excs, err = a.exceptionIndex(ctx); err != nil {
			return Stats{}, err
		}
	}
	for _, name := range namespaces {
		var ns corev1.Namespace
		if err := a.cached().Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			return Stats{}, explain(err, "get", "namespaces", "")
		}
		nss = append(nss, ns)
	}
	others := map[string]*corev1.Namespace{}
	for i := range nss {
		ns := &nss[i]
		switch {
		case r.sc.Excluded(ns.Name):
		case r.sc.RunnerNamespace(ns.Name, ns.Labels):
			// Every Pod is a task runner: list them all.
			if err := r.namespace(ctx, ns, true, false); err != nil {
				return r.stats, err
			}
		case len(namespaces) > 0:
			if err := r.namespace(ctx, ns, false, true); err != nil {
				return r.stats, err
			}
		default:
			others[ns.Name] = ns
		}
	}
	if len(namespaces) > 0 {
		return r.stats, nil
	}
	if err := r.selected(ctx, others); err != nil {
		return r.stats, err
	}
	// Namespaces that run no task runner now but hold the managed policy
	// are still guarded: their NetworkPolicies are checked.
	holding, err := a.holdingManaged(ctx)
	if err != nil {
		return r.stats, err
	}
	for _, name := range holding {
		if ns, ok := others[name]; ok && !r.done[name] {
			if err := r.finish(ctx, &nsRun{ns: ns}); err != nil {
				return r.stats, err
			}
		}
	}
	return r.stats, nil
}

// run is one Stream.
type run struct {
	a     *Auditor
	sc    *scope.Scope
	found func(string, []report.Result) error
	// excs are the cluster's exceptions by namespace (cluster-wide runs);
	// nil: read per namespace.
	excs  map[string]nsExceptions
	done  map[string]bool
	stats Stats
}

// nsRun is one namespace being audited.
type nsRun struct {
	ns       *corev1.Namespace
	runnerNS bool
	pols     []networkingv1.NetworkPolicy
	excs     nsExceptions
	results  []report.Result
	runners  int
	// engine judges the namespace's Pods: the rule set its
	// kestra-guard.io/enforce-version label pins (scope.Engine), with
	// pinWarning when the label is not a version.
	engine     *policy.Engine
	pinWarning string
}

// namespace audits the Pods of ns: those the task-runner selector matches
// when onlyRunners, else all.
func (r *run) namespace(ctx context.Context, ns *corev1.Namespace, runnerNS bool, onlyRunners bool) error {
	n, err := r.open(ctx, ns, runnerNS)
	if err != nil {
		return err
	}
	err = r.a.pages(ctx, ns.Name, onlyRunners, func(pods []corev1.Pod) error {
		for i := range pods {
			r.judge(n, &pods[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.finish(ctx, n)
}

// selected audits the task runners of the namespaces in others with one
// cluster-wide list by the task-runner selector. The API server returns a
// list in key order, namespace by namespace: each namespace is finished
// when the next begins.
func (r *run) selected(ctx context.Context, others map[string]*corev1.Namespace) error {
	var cur *nsRun
	var late []string
	err := r.a.pages(ctx, "", true, func(pods []corev1.Pod) error {
		for i := range pods {
			p := &pods[i]
			ns, ok := others[p.Namespace]
			if !ok {
				continue // a runner namespace, excluded, or created since
			}
			if cur == nil || cur.ns.Name != p.Namespace {
				if cur != nil {
					if err := r.finish(ctx, cur); err != nil {
						return err
					}
				}
				cur = nil
				if r.done[p.Namespace] {
					if !slices.Contains(late, p.Namespace) {
						late = append(late, p.Namespace)
					}
					continue
				}
				var err error
				if cur, err = r.open(ctx, ns, false); err != nil {
					return err
				}
			}
			r.judge(cur, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cur != nil {
		if err := r.finish(ctx, cur); err != nil {
			return err
		}
	}
	for _, name := range late {
		if err := r.namespace(ctx, others[name], false, true); err != nil {
			return err
		}
	}
	return nil
}

// open reads what judging the Pods of ns needs: its NetworkPolicies and
// PolicyExceptions.
func (r *run) open(ctx context.Context, ns *corev1.Namespace, runnerNS bool) (*nsRun, error) {
	n := &nsRun{ns: ns, runnerNS: runnerNS}
	n.engine, n.pinWarning = scope.Engine(ns, r.a.Config.Engine)
	var pols networkingv1.NetworkPolicyList
	if err := r.a.list(ctx, true, &pols, "networkpolicies", ns.Name); err != nil {
		return nil, err
	}
	n.pols = byName(pols.Items)
	if r.excs != nil {
		n.excs = r.excs[ns.Name]
		return n, nil
	}
	var err error
	n.excs.good, n.excs.bad, err = r.a.exceptions(ctx, ns.Name)
	return n, err
}

func (r *run) judge(n *nsRun, p *corev1.Pod) {
	if !n.runnerNS && !r.sc.Pod(n.ns, p.Labels).Guarded {
		return
	}
	n.runners++
	in := &policy.Input{Pod: p, NetworkPolicies: n.pols, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}
	res := n.engine.Evaluate(in)
	cr := report.Pinned(report.Result{Kind: "Pod", Namespace: n.ns.Name, Name: p.Name, Violations: res.Violations}, n.engine, n.engine.LatestWouldDeny(in, res))
	if n.pinWarning != "" {
		cr.Notes = append(cr.Notes, n.pinWarning)
	}
	cr = report.WithExceptions(cr, n.excs.good, p, time.Now())
	if len(cr.Violations) > 0 {
		for _, u := range n.excs.bad {
			cr.Notes = append(cr.Notes, u.Message())
		}
	}
	n.results = append(n.results, report.Finish(cr, false))
}

// finish checks the NetworkPolicies of a guarded namespace and hands the
// namespace's results over.
func (r *run) finish(ctx context.Context, n *nsRun) error {
	if n.pols == nil && n.runners == 0 {
		var pols networkingv1.NetworkPolicyList
		if err := r.a.list(ctx, true, &pols, "networkpolicies", n.ns.Name); err != nil {
			return err
		}
		n.pols = byName(pols.Items)
	}
	out := n.results
	holdsManaged := managed.Find(n.pols) != nil
	if r.sc.GuardedNamespace(n.ns.Name, n.ns.Labels, holdsManaged, n.runners > 0) {
		e := r.a.Config.Engine
		action := e.Action(policy.MetadataEgressBlockedID)
		for i := range n.pols {
			np := &n.pols[i]
			if vs := scope.ReopeningViolations(r.sc.MetadataReopenings(np, n.runnerNS, e.Options()), action); vs != nil {
				out = append(out, result("NetworkPolicy", n.ns.Name, np.Name, vs))
			}
		}
	}
	r.done[n.ns.Name] = true
	r.stats.Namespaces++
	r.stats.Pods += n.runners
	if r.a.Progress != nil {
		r.a.Progress(r.stats.Namespaces, r.stats.Pods)
	}
	return r.found(n.ns.Name, out)
}

// byName sorts policies by name, as the API server lists them (the cache
// lists in no fixed order): the same cluster gives the same findings, and
// an unchanged namespace's PolicyReport is not written again.
func byName(pols []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
	slices.SortFunc(pols, func(a, b networkingv1.NetworkPolicy) int { return strings.Compare(a.Name, b.Name) })
	return pols
}

// cached is where objects other than Pods are read.
func (a *Auditor) cached() client.Reader {
	if a.Cache != nil {
		return a.Cache
	}
	return a.reader()
}

// holdingManaged are the namespaces that hold the managed policy.
func (a *Auditor) holdingManaged(ctx context.Context) ([]string, error) {
	var pols networkingv1.NetworkPolicyList
	opts := []client.ListOption{client.MatchingFields{"metadata.name": managed.Name}}
	if a.Cache != nil {
		// The cache has no index on the name: read every policy's name.
		if err := a.Cache.List(ctx, &pols); err != nil {
			return nil, explain(err, "list", "networkpolicies", "")
		}
	} else if err := paginate(ctx, a.reader(), &pols, &pols.Items, append(opts, client.Limit(a.pageSize())), "networkpolicies", "", nil); err != nil {
		return nil, err
	}
	var out []string
	for i := range pols.Items {
		if pols.Items[i].Name == managed.Name {
			out = append(out, pols.Items[i].Namespace)
		}
	}
	return out, nil
}

// pages lists the Pods of ns (all namespaces when empty), only those the
// task-runner selector matches when onlyRunners (the API server selects), page by page: each page is handed to each and
// dropped.
func (a *Auditor) pages(ctx context.Context, ns string, onlyRunners bool, each func([]corev1.Pod) error) error {
	opts := []client.ListOption{client.Limit(a.pageSize())}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if onlyRunners {
		opts = append(opts, client.MatchingLabelsSelector{Selector: a.Config.Scope.ListSelector()})
	}
	var l corev1.PodList
	return paginate(ctx, a.reader(), &l, &l.Items, opts, "pods", ns, func() error { return each(l.Items) })
}

func result(kind, ns, name string, vs []policy.Violation) report.Result {
	return report.Finish(report.Result{Kind: kind, Namespace: ns, Name: name, Violations: vs}, false)
}

// list reads every page of a list, from the cache when fromCache and the
// Auditor has one.
func (a *Auditor) list(ctx context.Context, fromCache bool, list client.ObjectList, resource, ns string) error {
	if fromCache && a.Cache != nil {
		// One call: the cache holds every object, and answers every list
		// with a continue token that it refuses.
		if err := a.Cache.List(ctx, list, client.InNamespace(ns)); err != nil {
			return explain(err, "list", resource, ns)
		}
		return nil
	}
	r, opts := a.reader(), []client.ListOption{client.Limit(a.pageSize())}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	switch l := list.(type) {
	case *corev1.PodList:
		return paginate(ctx, r, l, &l.Items, opts, resource, ns, nil)
	case *networkingv1.NetworkPolicyList:
		return paginate(ctx, r, l, &l.Items, opts, resource, ns, nil)
	case *corev1.NamespaceList:
		return paginate(ctx, r, l, &l.Items, opts, resource, ns, nil)
	case *unstructured.UnstructuredList:
		return paginate(ctx, r, l, &l.Items, opts, resource, ns, nil)
	}
	return fmt.Errorf("listing %s: unsupported list type %T", resource, list)
}

func (a *Auditor) pageSize() int64 {
	if a.PageSize > 0 {
		return int64(a.PageSize)
	}
	return DefaultPageSize
}

// reader is Reader, paced by Pace when set.
func (a *Auditor) reader() client.Reader {
	if a.Pace == nil {
		return a.Reader
	}
	return pacedReader{Reader: a.Reader, pace: a.Pace}
}

// pacedReader waits on pace before each call.
type pacedReader struct {
	client.Reader
	pace *rate.Limiter
}

func (p pacedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := p.pace.Wait(ctx); err != nil {
		return err
	}
	return p.Reader.List(ctx, list, opts...)
}

func (p pacedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := p.pace.Wait(ctx); err != nil {
		return err
	}
	return p.Reader.Get(ctx, key, obj, opts...)
}

type continuer interface {
	client.ObjectList
	GetContinue() string
}

// paginate reads every page of a list. With each, each page is handed to
// it and dropped (items holds the page); without, items ends up holding
// them all.
func paginate[T any](ctx context.Context, r client.Reader, l continuer, items *[]T, opts []client.ListOption, resource, ns string, each func() error) error {
	var all []T
	cont := ""
	for {
		if err := r.List(ctx, l, append(opts, client.Continue(cont))...); err != nil {
			// A slow list (paced, or long) can outlive its continue token
			// when etcd compacts: the API server refuses the token with 410
			// Gone and hands one that goes on from the same place, without
			// the list's snapshot (objects changed since may be missed or
			// seen twice; the next pass sees them).
			if next := expiredContinue(err); cont != "" && next != "" && next != cont {
				cont = next
				continue
			}
			return explain(err, "list", resource, ns)
		}
		if each != nil {
			if err := each(); err != nil {
				return err
			}
		} else {
			all = append(all, *items...)
		}
		if cont = l.GetContinue(); cont == "" {
			if each == nil {
				*items = all
			}
			return nil
		}
	}
}

// expiredContinue is the continue token a 410 Gone for an expired one
// carries ("" for any other error).
func expiredContinue(err error) string {
	var st apierrors.APIStatus
	if !apierrors.IsResourceExpired(err) || !errors.As(err, &st) {
		return ""
	}
	return st.Status().Continue
}

// explain says which permission is missing, or that the cluster cannot be reached.
func explain(err error, verb, resource, ns string) error {
	where := "cluster-wide"
	if ns != "" {
		where = "in namespace " + ns
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("the credentials lack permission to %s %s %s (RBAC verb %q on %q): %w", verb, resource, where, verb, resource, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the cluster refused the credentials: %w", err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: %w", resource, where, err)
	}
	return fmt.Errorf("cannot %s %s %s: %w", verb, resource, where, err)
}
