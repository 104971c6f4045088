// Package check evaluates what `check` and `audit` read: Pods with the
// NetworkPolicies of their namespace, and Kestra flows.
package check

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kestra-guard/kestra-guard/internal/exception"
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
	// Waived are violations a PolicyException waived.
	Waived []exception.Waiver `json:"waived,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
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
	excs := exceptionsOf(objs)
	var out []Result
	for _, o := range objs {
		r := Result{File: o.File, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		switch {
		case o.Pod != nil:
			res := e.Evaluate(&policy.Input{Pod: o.Pod, NetworkPolicies: byNS[o.Namespace], NetworkPoliciesKnown: known})
			r.Violations, r.Notes = res.Violations, res.Notes
			r = WithExceptions(r, excs, o.Pod, time.Now())
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

// overlayKeys are the properties of Kestra's Kubernetes task runner and
// PodCreate task that become part of the Pod, and what each holds.
var overlayKeys = map[string]string{
	"podSpec":              "PodSpec",
	"spec":                 "PodSpec",
	"containerDefaultSpec": "Container",
	"containerSpec":        "Container",
	"defaultSpec":          "Container",
}

// Flow scans a Kestra flow: every string for metadata addresses, and every
// Pod overlay with the rules, reporting explicit dangerous values.
func Flow(e *policy.Engine, flow map[string]any) ([]policy.Violation, []string) {
	var vs []policy.Violation
	var notes []string
	action := e.Action("no-metadata-address")
	var walk func(v any, path string, parentIsK8s bool)
	walk = func(v any, path string, parentIsK8s bool) {
		switch t := v.(type) {
		case string:
			if found := e.Options().MetadataAddressIn(t); found != "" && action != policy.Off {
				vs = append(vs, policy.Violation{Rule: "no-metadata-address", Field: path, Action: action,
					Reason: "metadata address in flow", Detail: "the flow refers to the cloud metadata service (" + found + "); task code must not read node credentials"})
			}
		case []any:
			for i, x := range t {
				walk(x, path+"["+strconv.Itoa(i)+"]", parentIsK8s)
			}
		case map[string]any:
			typ, _ := t["type"].(string)
			k8s := parentIsK8s || strings.Contains(typ, ".kubernetes.")
			for _, k := range slices.Sorted(maps.Keys(t)) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if kind, ok := overlayKeys[k]; ok && k8s {
					fvs, err := overlay(e, kind, t[k], p)
					if err != nil {
						notes = append(notes, err.Error())
					}
					vs = append(vs, fvs...)
				}
				walk(t[k], p, k8s)
			}
		}
	}
	walk(flow, "", false)
	return vs, notes
}

// overlay evaluates one Pod overlay as a fragment; field paths are given
// relative to the flow.
func overlay(e *policy.Engine, kind string, v any, path string) ([]policy.Violation, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{}
	prefix := "spec"
	if kind == "PodSpec" {
		err = json.Unmarshal(b, &pod.Spec)
	} else {
		pod.Spec.Containers = make([]corev1.Container, 1)
		err = json.Unmarshal(b, &pod.Spec.Containers[0])
		prefix = "spec.containers[0]"
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not evaluated: expected a %s: %v", path, kind, err)
	}
	res := e.Evaluate(&policy.Input{Pod: pod, Fragment: true})
	for i := range res.Violations {
		f := &res.Violations[i].Field
		if rest, ok := strings.CutPrefix(*f, prefix); ok {
			*f = path + rest
		}
		// Metadata addresses inside overlays are reported by the string scan.
	}
	return slices.DeleteFunc(res.Violations, func(v policy.Violation) bool { return v.Rule == "no-metadata-address" }), nil
}
