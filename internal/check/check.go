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
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// Result is the decision for one object.
type Result struct {
	File string `json:"file,omitempty"`
	// Line is the line the object's document starts on (0 when unknown).
	Line       int                `json:"line,omitempty"`
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Allowed    bool               `json:"allowed"`
	Violations []policy.Violation `json:"violations"`
	// Lines are the lines of the violations' fields in File, in the order
	// of Violations: the field's own line where it is written, else its
	// nearest written ancestor's, else the document's.
	Lines []int `json:"lines,omitempty"`
	// Mutations are what the mutating webhook would set before the rules
	// run ("field=value"), reported apart from the violations.
	Mutations []string `json:"mutations,omitempty"`
	// Waived are violations a PolicyException waived.
	Waived []exception.Waiver `json:"waived,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
	// RulesVersion is the rule-set version the object was judged by, when
	// older than latest (a pinned namespace, check --rules-version), and
	// LatestWouldDeny the denials latest adds: what moving to latest would
	// refuse. They do not change Allowed.
	RulesVersion    string             `json:"rulesVersion,omitempty"`
	LatestWouldDeny []policy.Violation `json:"latestWouldDeny,omitempty"`
	// latestLines are the lines of LatestWouldDeny's fields, as Lines.
	latestLines []int
}

// Skipped is an object check did not evaluate, and why.
type Skipped struct {
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

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
func Objects(e *policy.Engine, objs []input.Object, opts Options) ([]Result, []Skipped, error) {
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
	var out []Result
	var skipped []Skipped
	for _, o := range objs {
		r := Result{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		switch {
		case o.Pod != nil:
			if why := skip(o, sc, opts); why != "" {
				skipped = append(skipped, Skipped{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Reason: why})
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
			in := &policy.Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: known}
			res := e.Evaluate(in)
			r.Violations, r.Notes = res.Violations, res.Notes
			r = Pinned(r, e, e.LatestWouldDeny(in, res))
			r = WithExceptions(r, excs, o.Pod, time.Now())
		case o.Flow != nil:
			r.Violations, r.Notes = Flow(e, sc, o.Flow)
			if e.Pinned() {
				latest, _ := Flow(e.Latest(), sc, o.Flow)
				r = Pinned(r, e, policy.OnlyIn(latest, r.Violations))
			}
		case o.Skip != "":
			skipped = append(skipped, Skipped{File: o.File, Line: o.Line, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Reason: o.Skip})
			continue
		default:
			continue
		}
		r = Finish(r, opts.Audit)
		if o.File != "" {
			for _, v := range r.Violations {
				r.Lines = append(r.Lines, o.FieldLine(v.Field))
			}
			for _, v := range r.LatestWouldDeny {
				r.latestLines = append(r.latestLines, o.FieldLine(v.Field))
			}
		}
		out = append(out, r)
	}
	return out, skipped, nil
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

// Pinned records, when e judges by an older rule set than latest, its
// version and the denials latest adds (e.LatestWouldDeny).
func Pinned(r Result, e *policy.Engine, latestWouldDeny []policy.Violation) Result {
	if e.Pinned() {
		r.RulesVersion, r.LatestWouldDeny = e.Version(), latestWouldDeny
	}
	return r
}

// LineOf is the line of the i-th violation, else of the object.
func (r Result) LineOf(i int) int {
	if i < len(r.Lines) && r.Lines[i] > 0 {
		return r.Lines[i]
	}
	return r.Line
}

// LatestLineOf is the line of the i-th LatestWouldDeny, else of the object.
func (r Result) LatestLineOf(i int) int {
	if i < len(r.latestLines) && r.latestLines[i] > 0 {
		return r.latestLines[i]
	}
	return r.Line
}

// Finish decides Allowed from the violations (all turned into warnings in
// audit) and makes an empty list explicit for JSON output.
func Finish(r Result, audit bool) Result {
	if audit {
		for i := range r.Violations {
			r.Violations[i].Action = policy.Warn
		}
	}
	r.Allowed = !(policy.Result{Violations: r.Violations}).Denied()
	if r.Violations == nil {
		r.Violations = []policy.Violation{}
	}
	return r
}
