package kestra

import (
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// decodedTypes are the types the flow reader decodes what a flow writes
// into (Decode's targets in flow.go, kubectl.go and manifest.go): a field a
// value cannot be checked for is one of their JSON field names.
var decodedTypes = []any{corev1.Pod{}, batchv1.JobSpec{}, appsv1.Deployment{}, appsv1.StatefulSet{}, appsv1.DaemonSet{},
	appsv1.ReplicaSet{}, batchv1.Job{}, batchv1.CronJob{}, networkingv1.NetworkPolicy{}}

// knownFields are the JSON field names of the decoded types, at any depth.
func knownFields() map[string]bool {
	known := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || reflect.PointerTo(t).Implements(unmarshalerType) {
			return
		}
		seen[t] = true
		for name, ft := range jsonFields(t) {
			known[name] = true
			walk(ft)
		}
	}
	for _, v := range decodedTypes {
		walk(reflect.TypeOf(v))
	}
	return known
}

// Every field a rule declares is a field the flow reader can report, and
// no field is declared twice; the fields the reader names itself (the
// egress rules of a NetworkPolicy a kubectl task writes) are declared.
func TestFlowFieldsAreKnown(t *testing.T) {
	known := knownFields()
	by := map[string][]string{}
	for _, r := range policy.Rules {
		for _, f := range r.FlowFields {
			if !known[f] {
				t.Errorf("rule %s declares the flow field %q, which is no field of what the flow reader decodes", r.ID, f)
			}
			by[f] = append(by[f], r.ID)
		}
	}
	for f, rules := range by {
		if len(rules) > 1 {
			t.Errorf("the flow field %q is declared by %v; one rule at most may declare it", f, rules)
		}
	}
	for _, f := range []string{egressField} {
		if len(by[f]) != 1 {
			t.Errorf("the flow reader reports problems for the field %q, which no rule declares (want metadata-egress-blocked)", f)
		}
	}
	if got, want := fieldRules, flowFieldRules(policy.Rules); !maps.Equal(got, want) {
		t.Errorf("fieldRules = %v, want what the rules declare: %v", got, want)
	}
}

// A rule declares a field of a Pod only when it is the one rule that reads
// it, and declares every boolean or integer field it alone reads (a
// template Kestra renders at run time can stand for one). Which rules read a field is found by trying values: every
// scalar of a podSpec overlay (containers by their first item) is set
// alone to each of a few values that break some rule, the fragment is
// evaluated as flow.go evaluates an overlay, and a rule that then reports
// reads every field on the way to that scalar ("capabilities" and "add"
// for spec.containers[0].securityContext.capabilities.add). A field read
// by several rules is declared by none: a value of it that cannot be
// checked is a static-check denial, not one rule's.
func TestFlowFieldsAreWhatTheRulesRead(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.Rules = map[string]policy.Action{}
	for _, r := range policy.Rules {
		cfg.Rules[r.ID] = policy.Deny
	}
	cfg.AllowedRegistries = []string{"registry.example/"}
	e, err := policy.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]map[string]bool{} // field -> rules that read it
	evaluate := func(frag any) []policy.Violation {
		var spec corev1.PodSpec
		if ps := Decode(frag, &spec, "spec"); len(ps) > 0 {
			return nil // not a value of this field
		}
		return e.Evaluate(&policy.Input{Pod: &corev1.Pod{Spec: spec}, Fragment: true}).Violations
	}
	scalars := 0
	flagReaders := map[string]map[string]bool{} // the same, for the booleans and integers only
	eachScalar(reflect.TypeFor[corev1.PodSpec](), func(keys []string, build func(any) any, values []any, flag bool) {
		scalars++
		base := evaluate(build(absent)) // the same fragment without the value
		for _, v := range values {
			for _, viol := range evaluate(build(v)) {
				if slices.Contains(base, viol) {
					continue
				}
				for _, k := range keys {
					add(readers, k, viol.Rule)
				}
				if flag {
					add(flagReaders, keys[len(keys)-1], viol.Rule)
				}
			}
		}
	})
	if scalars < 200 {
		t.Fatalf("tried %d scalars of a PodSpec; the walk lost its way", scalars)
	}
	declared := map[string]string{}
	for _, r := range policy.Rules {
		for _, f := range r.FlowFields {
			declared[f] = r.ID
		}
	}
	for _, f := range slices.Sorted(maps.Keys(readers)) {
		rs := slices.Sorted(maps.Keys(readers[f]))
		switch {
		case len(rs) > 1 && declared[f] != "":
			t.Errorf("the flow field %q is read by %v; %s must not declare it alone", f, rs, declared[f])
		case len(rs) == 1 && declared[f] != "" && declared[f] != rs[0]:
			t.Errorf("the flow field %q is read by %s only, but %s declares it", f, rs[0], declared[f])
		case len(rs) == 1 && declared[f] == "" && flagReaders[f][rs[0]]:
			t.Errorf("only %s reads the flow field %q, a boolean or an integer a template can stand for; it must declare it in FlowFields", rs[0], f)
		}
	}
	for f, r := range declared {
		if readers[f] == nil && f != egressField {
			t.Errorf("rule %s declares the flow field %q, but no value of it in a podSpec makes %s report", r, f, r)
		}
	}
}

func add(m map[string]map[string]bool, field, rule string) {
	if m[field] == nil {
		m[field] = map[string]bool{}
	}
	m[field][rule] = true
}

// probes are values tried for a scalar: each breaks some rule somewhere.
var (
	boolProbes   = []any{true, false}
	intProbes    = []any{int64(0), int64(8080)}
	stringProbes = []any{"x", "0", "/", "/var/run/docker.sock", "Unconfined", "Unmasked", "Localhost", "spc_t", "unconfined_u",
		"SYS_ADMIN", "kernel.msgmax", "10.0.0.1", "169.254.169.254", "AWS_WEB_IDENTITY_TOKEN_FILE", "sts.amazonaws.com"}
)

// absent, given to a fragment builder, leaves the scalar out.
var absent = new(struct{})

// eachScalar calls fn for every scalar (or list of scalars) field under t,
// with the JSON keys leading to it, a function building the fragment that
// holds a value there (or, given absent, the same fragment without it),
// the values to try, and whether it is a boolean or an integer. Maps are
// not walked.
func eachScalar(t reflect.Type, fn func(keys []string, build func(any) any, values []any, flag bool)) {
	onPath := map[reflect.Type]bool{}
	var walk func(t reflect.Type, keys []string, build func(any) any)
	walk = func(t reflect.Type, keys []string, build func(any) any) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			fn(keys, build, append(slices.Clone(intProbes), stringProbes...), false) // Quantity, IntOrString
			return
		}
		switch t.Kind() {
		case reflect.Bool:
			fn(keys, build, boolProbes, true)
		case reflect.Int, reflect.Int32, reflect.Int64:
			fn(keys, build, intProbes, true)
		case reflect.String:
			fn(keys, build, stringProbes, false)
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				return
			}
			walk(t.Elem(), keys, func(v any) any {
				if v == absent {
					return build([]any{})
				}
				return build([]any{v})
			})
		case reflect.Struct:
			if onPath[t] {
				return
			}
			onPath[t] = true
			fields := jsonFields(t)
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				walk(fields[n], append(slices.Clone(keys), n), func(v any) any {
					if v == absent {
						return build(map[string]any{})
					}
					return build(map[string]any{n: v})
				})
			}
			delete(onPath, t)
		}
	}
	walk(t, nil, func(v any) any { return v })
}

// The walk reaches the scalars the rules read.
func TestEachScalarReachesDeepFields(t *testing.T) {
	var got []string
	eachScalar(reflect.TypeFor[corev1.PodSpec](), func(keys []string, _ func(any) any, _ []any, _ bool) {
		got = append(got, strings.Join(keys, "."))
	})
	for _, want := range []string{"hostNetwork", "containers.securityContext.capabilities.add", "volumes.hostPath.path",
		"containers.livenessProbe.httpGet.host", "securityContext.sysctls.name"} {
		if !slices.Contains(got, want) {
			t.Errorf("the walk misses %s", want)
		}
	}
}
