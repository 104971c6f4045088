// Package check evaluates what `check` and `audit` read: Pods with the
// NetworkPolicies of their namespace, and Kestra flows. `check` judges a Pod
// as the cluster would admit it: only task runners, mutated first.
package check

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/kestra"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// Options change how results are decided.
type Options struct {
	// RequireNetworkPolicy evaluates the egress rule even when the input
	// holds no NetworkPolicy at all.
	RequireNetworkPolicy bool
	// Audit reports denials as warnings.
	Audit bool
	// NoMutate evaluates Pods as written (a strict lint) instead of as
	// enforce mode would admit them: mutated, with the managed policy.
	NoMutate bool
	// AllPods evaluates every Pod, not only the task runners the webhook
	// intercepts.
	AllPods bool
}

// Objects evaluates every task-runner Pod (with the NetworkPolicies of its
// namespace found in objs) and every Kestra flow, as the cluster would
// admit them, with the configuration c compiled by the caller: its engine,
// its scope (which Pods are task runners) and its managed policy; it returns
// the objects it skipped too.
func Objects(c *config.Compiled, objs []input.Object, opts Options) ([]report.Result, []report.Skipped) {
	e, sc := c.Engine, c.Scope
	byNS := map[string][]networkingv1.NetworkPolicy{}
	for _, o := range objs {
		if o.NetworkPolicy != nil {
			byNS[o.Namespace] = append(byNS[o.Namespace], *o.NetworkPolicy)
		}
	}
	known := len(byNS) > 0 || opts.RequireNetworkPolicy
	excs := exceptionsOf(objs)
	var out []report.Result
	var skipped []report.Skipped
	for _, o := range objs {
		r := report.Result{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		switch {
		case o.Pod != nil:
			guard := sc.Pod(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}, o.Pod.Labels)
			if why := skip(o, guard, sc, opts); why != "" {
				skipped = append(skipped, report.Skipped{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Reason: why})
				continue
			}
			pod, pols := o.Pod, byNS[o.Namespace]
			if !opts.NoMutate {
				pod = pod.DeepCopy()
				r.Mutations = e.Options().Mutate(pod, policy.ScopePod).Changes
				if known && c.ManagedNetworkPolicy.Enabled {
					pols = managed.With(pols, o.Namespace, c.Managed.For(guard.RunnerNamespace))
				}
			}
			in := &policy.Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: known}
			res := e.Evaluate(in)
			r.Violations, r.Notes = res.Violations, res.Notes
			r = report.Pinned(r, e, e.LatestWouldDeny(in, res))
			// The exceptions see the Pod the rules judged (mutated: the start
			// gate shifts the init containers' indices), as the webhook does.
			r = report.WithExceptions(r, excs, pod, time.Now())
			r = inObject(r)
		case o.Flow != nil:
			r.Violations, r.Notes = kestra.Flow(e, sc, o.Flow)
			if e.Pinned() {
				latest, _ := kestra.Flow(e.Latest(), sc, o.Flow)
				r = report.Pinned(r, e, policy.OnlyIn(latest, r.Violations))
			}
		case o.Skip != "":
			skipped = append(skipped, report.Skipped{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Reason: o.Skip})
			continue
		default:
			continue
		}
		r = report.Finish(r, opts.Audit)
		if o.File != "" {
			for _, v := range r.Violations {
				r.Lines = append(r.Lines, o.FieldLine(v.Field))
			}
			for _, v := range r.LatestWouldDeny {
				r.LatestLines = append(r.LatestLines, o.FieldLine(v.Field))
			}
		}
		out = append(out, r)
	}
	return out, skipped
}

// inObject gives the field paths of r, found in the Pod or Pod template
// of a r.Kind, as paths in the object as written: a Deployment's
// spec.hostPID is spec.template.spec.hostPID. Exceptions have matched
// by then (they read the paths in the Pod).
func inObject(r report.Result) report.Result {
	if input.TemplatePath(r.Kind) == "" {
		return r
	}
	for i := range r.Violations {
		r.Violations[i].Field = input.FieldInObject(r.Kind, r.Violations[i].Field)
	}
	for i := range r.Waived {
		r.Waived[i].Field = input.FieldInObject(r.Kind, r.Waived[i].Field)
	}
	for i, m := range r.Mutations {
		r.Mutations[i] = input.FieldInObject(r.Kind, m) // "field=value"
	}
	for i := range r.LatestWouldDeny {
		r.LatestWouldDeny[i].Field = input.FieldInObject(r.Kind, r.LatestWouldDeny[i].Field)
	}
	return r
}

// skip says why the webhook would not intercept the Pod of o, or "":
// guard is scope's answer for it. Offline, a runner namespace is one listed
// in runnerNamespaces: the kestra-guard.io/runner label of a Namespace is
// not read.
func skip(o input.Object, guard scope.Pod, sc *scope.Scope, opts Options) string {
	switch {
	case opts.AllPods || guard.Guarded:
		return ""
	case guard.Excluded:
		return guard.Skipped
	}
	return fmt.Sprintf("not a task runner: its labels do not match taskRunnerSelector %q and %s is not in runnerNamespaces (--all-pods evaluates it)",
		sc.SelectorText(), o.Namespace)
}
