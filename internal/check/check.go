// Package check evaluates what `check` and `audit` read: Pods with the
// NetworkPolicies of their namespace, and Kestra flows.
package check

import (
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Result is the decision for one object.
type Result struct {
	File       string             `json:"file,omitempty"`
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Allowed    bool               `json:"allowed"`
	Violations []policy.Violation `json:"violations"`
	Notes      []string           `json:"notes,omitempty"`
}

// Options change how results are decided.
type Options struct {
	// RequireNetworkPolicy evaluates the egress rule even when the input
	// holds no NetworkPolicy at all.
	RequireNetworkPolicy bool
	// Audit reports denials as warnings.
	Audit bool
}

// Objects evaluates every Pod (with the NetworkPolicies of its namespace
// found in objs) and every Kestra flow.
func Objects(e *policy.Engine, objs []input.Object, opts Options) []Result {
	byNS := map[string][]networkingv1.NetworkPolicy{}
	for _, o := range objs {
		if o.NetworkPolicy != nil {
			byNS[o.Namespace] = append(byNS[o.Namespace], *o.NetworkPolicy)
		}
	}
	known := len(byNS) > 0 || opts.RequireNetworkPolicy
	var out []Result
	for _, o := range objs {
		r := Result{File: o.File, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		switch {
		case o.Pod != nil:
			res := e.Evaluate(&policy.Input{Pod: o.Pod, NetworkPolicies: byNS[o.Namespace], NetworkPoliciesKnown: known})
			r.Violations, r.Notes = res.Violations, res.Notes
		case o.Flow != nil:
			r.Violations, r.Notes = Flow(e, o.Flow)
		default:
			continue
		}
		out = append(out, Finish(r, opts.Audit))
	}
	return out
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
