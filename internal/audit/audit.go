// Package audit evaluates what already runs in a cluster with the same engine
// as admission: every task-runner Pod with the NetworkPolicies of its
// namespace, and every NetworkPolicy that reopens metadata egress in a
// guarded namespace.
package audit

import (
	"context"
	"fmt"
	"time"

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

// pageSize is how many objects one list call reads.
const pageSize = 500

// Auditor reads the cluster through Reader.
type Auditor struct {
	Reader client.Reader
	// Config is the configuration compiled by the caller (config.Compile):
	// its engine, scope and settings, used as they are.
	Config *config.Compiled
	// Progress, when set, is told how far the audit got.
	Progress func(namespaces, pods int)

	// seen are the PolicyExceptions read by the last Run.
	seen []v1alpha1.PolicyException
}

// Run audits the given namespaces, or every namespace when none is given.
func (a *Auditor) Run(ctx context.Context, namespaces ...string) ([]report.Result, error) {
	sc := a.Config.Scope
	var nss []corev1.Namespace
	if len(namespaces) == 0 {
		var list corev1.NamespaceList
		if err := a.list(ctx, &list, "namespaces", ""); err != nil {
			return nil, err
		}
		nss = list.Items
	}
	for _, name := range namespaces {
		var ns corev1.Namespace
		if err := a.Reader.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			return nil, explain(err, "get", "namespaces", "")
		}
		nss = append(nss, ns)
	}
	var out []report.Result
	a.seen = nil
	pods := 0
	for i := range nss {
		ns := &nss[i]
		if sc.Excluded(ns.Name) {
			continue
		}
		res, n, err := a.namespace(ctx, ns, sc)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
		pods += n
		if a.Progress != nil {
			a.Progress(i+1, pods)
		}
	}
	return out, nil
}

func (a *Auditor) namespace(ctx context.Context, ns *corev1.Namespace, sc *scope.Scope) ([]report.Result, int, error) {
	runnerNS := sc.RunnerNamespace(ns.Name, ns.Labels)
	var pods corev1.PodList
	if err := a.list(ctx, &pods, "pods", ns.Name); err != nil {
		return nil, 0, err
	}
	var pols networkingv1.NetworkPolicyList
	if err := a.list(ctx, &pols, "networkpolicies", ns.Name); err != nil {
		return nil, 0, err
	}
	excs, unreadable, err := a.exceptions(ctx, ns.Name)
	if err != nil {
		return nil, 0, err
	}
	e := a.Config.Engine
	now := time.Now()
	engine, pinWarning := scope.Engine(ns, e)
	var out []report.Result
	runners := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if !sc.Pod(ns, p.Labels).Guarded {
			continue
		}
		runners++
		in := &policy.Input{Pod: p, NetworkPolicies: pols.Items, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}
		res := engine.Evaluate(in)
		r := report.Pinned(report.Result{Kind: "Pod", Namespace: ns.Name, Name: p.Name, Violations: res.Violations}, engine, engine.LatestWouldDeny(in, res))
		if pinWarning != "" {
			r.Notes = append(r.Notes, pinWarning)
		}
		r = report.WithExceptions(r, excs, p, now)
		if len(r.Violations) > 0 {
			for _, u := range unreadable {
				r.Notes = append(r.Notes, u.Message())
			}
		}
		out = append(out, report.Finish(r, false))
	}
	holdsManaged := managed.Find(pols.Items) != nil
	if !sc.GuardedNamespace(ns.Name, ns.Labels, holdsManaged, runners > 0) {
		return out, runners, nil
	}
	action := e.Action(policy.MetadataEgressBlockedID)
	for i := range pols.Items {
		np := &pols.Items[i]
		if vs := scope.ReopeningViolations(sc.MetadataReopenings(np, runnerNS, e.Options()), action); vs != nil {
			out = append(out, result("NetworkPolicy", ns.Name, np.Name, vs))
		}
	}
	return out, runners, nil
}

func result(kind, ns, name string, vs []policy.Violation) report.Result {
	return report.Finish(report.Result{Kind: kind, Namespace: ns, Name: name, Violations: vs}, false)
}

// list reads every page of a list.
func (a *Auditor) list(ctx context.Context, list client.ObjectList, resource, ns string) error {
	opts := []client.ListOption{client.Limit(pageSize)}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	switch l := list.(type) {
	case *corev1.PodList:
		return paginate(ctx, a.Reader, l, &l.Items, opts, resource, ns)
	case *networkingv1.NetworkPolicyList:
		return paginate(ctx, a.Reader, l, &l.Items, opts, resource, ns)
	case *corev1.NamespaceList:
		return paginate(ctx, a.Reader, l, &l.Items, opts, resource, ns)
	case *unstructured.UnstructuredList:
		return paginate(ctx, a.Reader, l, &l.Items, opts, resource, ns)
	}
	return fmt.Errorf("listing %s: unsupported list type %T", resource, list)
}

type continuer interface {
	client.ObjectList
	GetContinue() string
}

func paginate[T any](ctx context.Context, r client.Reader, l continuer, items *[]T, opts []client.ListOption, resource, ns string) error {
	var all []T
	cont := ""
	for {
		if err := r.List(ctx, l, append(opts, client.Continue(cont))...); err != nil {
			return explain(err, "list", resource, ns)
		}
		all = append(all, *items...)
		if cont = l.GetContinue(); cont == "" {
			*items = all
			return nil
		}
	}
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
