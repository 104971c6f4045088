package kestra

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// StaticRule is the rule ID of a value in a flow that cannot be checked
// statically and feeds no single rule (a templated key, an overlay that is
// not an object). It always denies.
const StaticRule = "static-check"

// fieldRules names the rule a field feeds, so that a value that cannot be
// checked is reported under the rule it could break, with that rule's
// action. Each rule declares the fields it reads (policy.Rule.FlowFields).
var fieldRules = flowFieldRules(policy.Rules)

// flowFieldRules maps each field a rule declares to the rule; a field two
// rules declare maps to neither (TestFlowFieldsAreKnown fails), so that a
// value of it is a static-check denial rather than the wrong rule's.
func flowFieldRules(rules []policy.Rule) map[string]string {
	m := map[string]string{}
	twice := map[string]bool{}
	for _, r := range rules {
		for _, f := range r.FlowFields {
			if _, ok := m[f]; ok {
				twice[f] = true
			}
			m[f] = r.ID
		}
	}
	for f := range twice {
		delete(m, f)
	}
	return m
}

type overlayKind int

const (
	podSpecOverlay overlayKind = iota
	containerOverlay
	metadataOverlay
	jobSpecOverlay
)

// overlay is a property of a Kestra plugin that becomes part of a Pod.
type overlay struct {
	key  []string // path of the property in the plugin's map
	kind overlayKind
}

// runnerOverlays are the Kubernetes task runner's (Enterprise docs; the
// open-source runner before it moved had the same keys).
var runnerOverlays = []overlay{
	{[]string{"podSpec"}, podSpecOverlay},
	{[]string{"containerSpec"}, containerOverlay},
	{[]string{"containerDefaultSpec"}, containerOverlay},
	{[]string{"fileSideCarSpec"}, containerOverlay},
	{[]string{"fileSidecar", "defaultSpec"}, containerOverlay},
}

// podCreateOverlays are io.kestra.plugin.kubernetes.core.PodCreate's.
var podCreateOverlays = []overlay{
	{[]string{"metadata"}, metadataOverlay},
	{[]string{"spec"}, podSpecOverlay},
	{[]string{"containerDefaultSpec"}, containerOverlay},
	{[]string{"fileSidecar", "defaultSpec"}, containerOverlay},
}

// overlaysOf returns the overlays a plugin type reads.
func overlaysOf(typ string) []overlay {
	switch {
	case !strings.Contains(typ, ".kubernetes."):
		return nil
	case strings.Contains(typ, ".runner."):
		return runnerOverlays
	case strings.HasSuffix(typ, ".PodCreate"):
		return podCreateOverlays
	case strings.HasSuffix(typ, ".kubectl.Apply"):
		return nil // its spec is judged object by object (kubectl.go)
	case strings.HasSuffix(typ, ".JobCreate"):
		return []overlay{{[]string{"metadata"}, metadataOverlay}, {[]string{"spec"}, jobSpecOverlay}}
	}
	return runnerOverlays // another Kubernetes plugin: the runner's keys, wherever they are
}

// pluginDefault is one entry of a flow's pluginDefaults (or taskDefaults).
type pluginDefault struct {
	typ    string
	values map[string]any
	forced bool
	path   string
}

func defaultsOf(flow map[string]any) []pluginDefault {
	var out []pluginDefault
	for _, key := range []string{"pluginDefaults", "taskDefaults"} {
		list, _ := flow[key].([]any)
		for i, x := range list {
			m, _ := x.(map[string]any)
			typ, _ := m["type"].(string)
			values, _ := m["values"].(map[string]any)
			if typ == "" || values == nil {
				continue
			}
			forced := m["forced"] == true || m["forced"] == "true"
			out = append(out, pluginDefault{typ: typ, values: values, forced: forced, path: key + "[" + strconv.Itoa(i) + "].values"})
		}
	}
	return out
}

type linter struct {
	e        *policy.Engine
	sc       *scope.Scope
	defaults []pluginDefault
	// origin maps a path in the flow as defaults are applied to where the
	// value is written (in pluginDefaults).
	origin map[string]string
	vs     []policy.Violation
	seen   map[policy.Violation]bool
	notes  []string
}

// Flow checks a Kestra flow as Kestra would build its Pods: every string
// and number is scanned for metadata addresses; every Pod overlay of a
// Kubernetes task or task runner, with the flow's pluginDefaults applied by
// type prefix, is decoded as Kestra decodes it and evaluated for explicit
// dangerous values; the kubectl tasks are judged object by object
// (kubectl.go), as the webhooks would judge them in a runner namespace of sc;
// a value that cannot be checked statically is a denial. The notes name
// what was read and not checked.
func Flow(e *policy.Engine, sc *scope.Scope, flow map[string]any) ([]policy.Violation, []string) {
	l := &linter{e: e, sc: sc, defaults: defaultsOf(flow), origin: map[string]string{}, seen: map[policy.Violation]bool{}}
	l.scan(flow, "")
	for _, k := range slices.Sorted(maps.Keys(flow)) {
		if k != "pluginDefaults" && k != "taskDefaults" {
			l.walk(flow[k], k)
		}
	}
	return l.vs, l.notes
}

func (l *linter) add(v policy.Violation) {
	v.Field = l.source(v.Field)
	if !l.seen[v] {
		l.seen[v] = true
		l.vs = append(l.vs, v)
	}
}

// scan reports every string, number and key that writes a metadata
// address. The YAML strings of kubectl tasks are left to kubectl.go, which
// scans what it reads of them.
func (l *linter) scan(v any, path string) { l.scanSkipping(v, path, "") }

// scanSkipping is scan without the values of the keys named skip (a
// NetworkPolicy's ipBlocks, which are judged as a whole).
func (l *linter) scanSkipping(v any, path, skip string) {
	switch t := v.(type) {
	case string:
		l.address(t, path)
	case int64, float64, json.Number:
		l.address(formatNumber(t), path)
	case []any:
		for i, x := range t {
			l.scanSkipping(x, index(path, i), skip)
		}
	case map[string]any:
		typ, _ := t["type"].(string)
		for _, k := range sortedKeys(t) {
			p := join(path, k)
			l.address(k, p)
			if _, isString := t[k].(string); k == skip || isString && kubectlString(typ, k) {
				continue
			}
			l.scanSkipping(t[k], p, skip)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func (l *linter) address(s, path string) {
	action := l.e.Action(policy.NoMetadataAddressID)
	if action == policy.Off {
		return
	}
	if found := l.e.Options().MetadataAddressIn(s); found != "" {
		l.add(policy.Violation{Rule: policy.NoMetadataAddressID, Field: path, Action: action, Reason: "metadata address in flow",
			Detail: "the flow refers to the cloud metadata service (" + found + "); task code must not read node credentials"})
	}
}

func formatNumber(v any) string {
	switch n := v.(type) {
	case int64:
		return strconv.FormatInt(n, 10)
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case json.Number:
		return n.String()
	}
	return ""
}

// walk visits the flow; a map with a type is a plugin (task, trigger, task
// runner): its defaults are applied, then its overlays are checked.
func (l *linter) walk(v any, path string) {
	switch t := v.(type) {
	case []any:
		for i, x := range t {
			l.walk(x, index(path, i))
		}
	case map[string]any:
		if typ, ok := t["type"].(string); ok {
			for _, d := range l.defaults {
				if strings.HasPrefix(typ, d.typ) {
					t = l.merge(t, d.values, d.forced, path, d.path)
				}
			}
			l.kubectl(typ, t, path)
			for _, o := range overlaysOf(typ) {
				if x := lookup(t, o.key); x != nil {
					l.overlay(o.kind, x, path+"."+strings.Join(o.key, "."))
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			l.walk(t[k], join(path, k))
		}
	}
}

func lookup(m map[string]any, key []string) any {
	var v any = m
	for _, k := range key {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// merge applies one default to a plugin's map as Kestra does
// (MapUtils.merge): the plugin's values win unless the default is forced,
// maps merge, lists are joined (the winner's items after the other's, minus
// repeats). The result is a new map; where a value comes from the default,
// its path is recorded so findings name where it is written.
func (l *linter) merge(task, def map[string]any, forced bool, taskPath, defPath string) map[string]any {
	out := maps.Clone(task)
	for k, dv := range def {
		tv := task[k]
		tp, dp := join(taskPath, k), join(defPath, k)
		tm, tIsMap := tv.(map[string]any)
		dm, dIsMap := dv.(map[string]any)
		tl, tIsList := tv.([]any)
		dl, dIsList := dv.([]any)
		switch {
		case dv == nil:
		case tv == nil:
			out[k] = dv
			l.origin[tp] = dp
		case tIsMap && dIsMap:
			out[k] = l.merge(tm, dm, forced, tp, dp)
		case tIsList && dIsList:
			first, second, firstPath, secondPath := dl, tl, dp, tp
			if forced {
				first, second, firstPath, secondPath = tl, dl, tp, dp
			}
			joined := slices.Clone(first)
			for i := range first {
				l.origin[index(tp, i)] = index(firstPath, i)
			}
			for i, x := range second {
				if !slices.ContainsFunc(first, func(y any) bool { return reflect.DeepEqual(x, y) }) {
					l.origin[index(tp, len(joined))] = index(secondPath, i)
					joined = append(joined, x)
				}
			}
			out[k] = joined
		case forced:
			out[k] = dv
			l.origin[tp] = dp
		}
	}
	return out
}

// source maps a path in the flow with defaults applied to where its value
// is written.
func (l *linter) source(f string) string {
	for i, n := 0, 0; i <= len(f) && n < 64; i++ {
		if i == len(f) || f[i] == '.' || f[i] == '[' || f[i] == '(' {
			if o, ok := l.origin[f[:i]]; ok {
				f, i = o+f[i:], len(o)
				n++
			}
		}
	}
	return f
}

// overlay decodes one overlay as Kestra would and evaluates it as a
// fragment of a Pod: only explicit dangerous values are reported.
func (l *linter) overlay(kind overlayKind, v any, path string) {
	pod := &corev1.Pod{}
	var problems []Problem
	var remap [][2]string // evaluated Pod's field prefix -> flow path
	switch kind {
	case podSpecOverlay:
		problems = Decode(v, &pod.Spec, path)
		remap = [][2]string{{"spec", path}}
	case containerOverlay:
		pod.Spec.Containers = make([]corev1.Container, 1)
		problems = Decode(v, &pod.Spec.Containers[0], path)
		remap = [][2]string{{"spec.containers[0]", path}}
	case metadataOverlay:
		problems = Decode(v, &pod.ObjectMeta, path)
		remap = [][2]string{{"metadata", path}}
	case jobSpecOverlay:
		var js batchv1.JobSpec
		problems = Decode(v, &js, path)
		pod.ObjectMeta, pod.Spec = js.Template.ObjectMeta, js.Template.Spec
		remap = [][2]string{{"spec", path + ".template.spec"}, {"metadata", path + ".template.metadata"}}
	}
	l.problems(problems)
	l.evaluate(pod, remap)
}

func (l *linter) evaluate(pod *corev1.Pod, remap [][2]string) {
	res := l.e.Evaluate(&policy.Input{Pod: pod, Fragment: true})
	for _, v := range res.Violations {
		if v.Rule == policy.NoMetadataAddressID {
			continue // reported by the scan of every string and number
		}
		for _, r := range remap {
			if rest, ok := strings.CutPrefix(v.Field, r[0]); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				v.Field = r[1] + rest
				break
			}
		}
		l.add(v)
	}
}

// problems turns values that cannot be checked statically into denials
// (or the action of the rule the field feeds).
func (l *linter) problems(ps []Problem) {
	for _, p := range ps {
		rule, action := StaticRule, policy.Deny
		if r, ok := fieldRules[p.Field]; ok {
			if rule, action = r, l.e.Action(r); action == policy.Off {
				continue
			}
		}
		l.add(policy.Violation{Rule: rule, Field: p.Path, Action: action, Reason: "cannot be checked statically",
			Detail: p.Reason + "; kestra-guard cannot vouch for what Kestra would build: write the value itself"})
	}
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
