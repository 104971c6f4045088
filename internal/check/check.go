// Package check evaluates what `check` and `audit` read: Pods with the
// NetworkPolicies of their namespace, and Kestra flows. `check` judges a Pod
// as the cluster would admit it: only task runners, mutated first.
package check

import (
	"fmt"
	"slices"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

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
	// Config says which Pods are task runners (taskRunnerSelector,
	// runnerNamespaces, the namespaces never intercepted) and whether the
	// managed NetworkPolicy is kept.
	Config config.Config
}

// Objects evaluates every task-runner Pod (with the NetworkPolicies of its
// namespace found in objs) and every Kestra flow, as the cluster would
// admit them; it returns the objects it skipped too.
func Objects(e *policy.Engine, objs []input.Object, opts Options) ([]report.Result, []report.Skipped, error) {
	sc, err := opts.Config.Scope()
	if err != nil {
		return nil, nil, err
	}
	specs := opts.Config.ManagedSpecs(sc, e.Options())
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
			if why := skip(o, sc, opts); why != "" {
				skipped = append(skipped, report.Skipped{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Reason: why})
				continue
			}
			pod, pols := o.Pod, byNS[o.Namespace]
			if !opts.NoMutate {
				pod = pod.DeepCopy()
				r.Mutations = e.Options().Mutate(pod, policy.ScopePod).Changes
				if known && opts.Config.ManagedNetworkPolicy.Enabled {
					pols = withManagedPolicy(specs.For(sc.RunnerNamespace(o.Namespace, nil)), o.Namespace, pols)
				}
			}
			res := e.Evaluate(&policy.Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: known})
			r.Violations, r.Notes = res.Violations, res.Notes
			r = report.WithExceptions(r, excs, o.Pod, time.Now())
			r = inObject(r)
		case o.Flow != nil:
			r.Violations, r.Notes = kestra.Flow(e, sc, o.Flow)
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
		}
		out = append(out, r)
	}
	return out, skipped, nil
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
	return r
}

// skip says why the webhook would not intercept the Pod of o, or "".
// Offline, a runner namespace is one listed in runnerNamespaces: the
// kestra-guard.io/runner label of a Namespace is not read.
func skip(o input.Object, sc *scope.Scope, opts Options) string {
	switch {
	case opts.AllPods:
		return ""
	case sc.Excluded(o.Namespace):
		return "namespace " + o.Namespace + " is never intercepted"
	case sc.RunnerNamespace(o.Namespace, nil) || sc.TaskRunner(o.Pod.Labels):
		return ""
	}
	return fmt.Sprintf("not a task runner: its labels do not match taskRunnerSelector %q and %s is not in runnerNamespaces (--all-pods evaluates it)",
		sc.SelectorText(), o.Namespace)
}

// withManagedPolicy adds the policy the mutating webhook would apply in ns
// before admitting the first task runner, unless pols holds it already.
func withManagedPolicy(spec managed.Spec, ns string, pols []networkingv1.NetworkPolicy) []networkingv1.NetworkPolicy {
	if slices.ContainsFunc(pols, func(p networkingv1.NetworkPolicy) bool { return p.Name == managed.Name }) {
		return pols
	}
	return append(slices.Clone(pols), *managed.Build(ns, spec))
}
