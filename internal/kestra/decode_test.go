package kestra

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func yamlValue(t testing.TB, s string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Decode converts what Jackson converts, and reports the rest with
// its path instead of dropping the whole overlay.
func TestDecode(t *testing.T) {
	for name, tc := range map[string]struct {
		in      string
		check   func(*corev1.PodSpec) bool
		problem string // "" for none; else "path: reason fragment"
	}{
		"string true":        {`{hostNetwork: "true"}`, func(s *corev1.PodSpec) bool { return s.HostNetwork }, ""},
		"string TRUE":        {`{hostPID: "TRUE"}`, func(s *corev1.PodSpec) bool { return s.HostPID }, ""},
		"integer boolean":    {`{hostIPC: 1}`, func(s *corev1.PodSpec) bool { return s.HostIPC }, ""},
		"string integer":     {`{securityContext: {runAsUser: "0"}}`, func(s *corev1.PodSpec) bool { return *s.SecurityContext.RunAsUser == 0 }, ""},
		"float truncated":    {`{securityContext: {runAsUser: 0.9}}`, func(s *corev1.PodSpec) bool { return *s.SecurityContext.RunAsUser == 0 }, ""},
		"numbers in args":    {`{containers: [{name: c, args: [sleep, 1000, true, 1.5]}]}`, func(s *corev1.PodSpec) bool { return strings.Join(s.Containers[0].Args, " ") == "sleep 1000 true 1.5" }, ""},
		"quantity number":    {`{containers: [{name: c, resources: {limits: {cpu: 1}}}]}`, func(s *corev1.PodSpec) bool { return s.Containers[0].Resources.Limits.Cpu().Value() == 1 }, ""},
		"templated string":   {`{containers: [{name: c, image: "{{ inputs.i }}"}]}`, func(s *corev1.PodSpec) bool { return s.Containers[0].Image == "{{ inputs.i }}" }, ""},
		"unknown dropped":    {`{notAField: 1, hostNetwork: true}`, func(s *corev1.PodSpec) bool { return s.HostNetwork }, ""},
		"templated boolean":  {`{hostNetwork: "{{ x }}", hostPID: true}`, func(s *corev1.PodSpec) bool { return !s.HostNetwork && s.HostPID }, `p.hostNetwork: "{{ x }}" is a template`},
		"templated quantity": {`{containers: [{name: c, resources: {limits: {memory: "{{ m }}"}}}]}`, nil, `p.containers[0].resources.limits.memory: "{{ m }}" is a template`},
		"overflow":           {`{containers: [{name: c, ports: [{containerPort: 4294967296}]}]}`, nil, "p.containers[0].ports[0].containerPort: expected an integer (int32), found 4294967296"},
		"not a boolean":      {`{hostNetwork: "yes"}`, nil, `p.hostNetwork: expected a boolean, found "yes"`},
		"case variant":       {`{hostNetwork: true, hostnetwork: false}`, func(s *corev1.PodSpec) bool { return s.HostNetwork }, `p.hostnetwork: the key "hostnetwork" differs from the field "hostNetwork" only in case`},
		"templated map key":  {`{nodeSelector: {"{{ k }}": v}}`, nil, `p.nodeSelector.{{ k }}: the key "{{ k }}" is a template`},
		"templated object":   {`{securityContext: "{{ sc }}"}`, nil, `p.securityContext: "{{ sc }}" is a template Kestra renders at run time, where an object (PodSecurityContext) is needed`},
		"list expected":      {`{containers: {name: c}}`, nil, "p.containers: expected a list, found an object"},
	} {
		t.Run(name, func(t *testing.T) {
			var spec corev1.PodSpec
			problems := Decode(yamlValue(t, tc.in), &spec, "p")
			if tc.problem == "" && len(problems) > 0 {
				t.Errorf("unexpected problems %v", problems)
			}
			if tc.problem != "" && (len(problems) != 1 || !strings.Contains(problems[0].String(), tc.problem)) {
				t.Errorf("problems = %v, want one containing %q", problems, tc.problem)
			}
			if tc.check != nil && !tc.check(&spec) {
				t.Errorf("decoded %+v", spec)
			}
		})
	}
}

// On input the API server decodes as is (case-sensitive, strict), Decode
// decodes the same object with no problem; a templated key anywhere it
// reads keys is always a problem at its path; nothing panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{hostNetwork: true, containers: [{name: c, image: b, args: [a], securityContext: {runAsUser: 0}}]}`))
	f.Add([]byte(`{hostNetwork: "true", hostnetwork: false, volumes: [{name: v, hostPath: {path: /}}]}`))
	f.Add([]byte(`{containers: [{name: c, resources: {limits: {cpu: 1, memory: 1Gi}}, ports: [{containerPort: "80"}]}]}`))
	f.Add([]byte(`{securityContext: {sysctls: [{name: a, value: 1}]}, nodeSelector: {a: 1}, overhead: {cpu: "{{ x }}"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			return
		}
		var v any
		if kjson.UnmarshalCaseSensitivePreserveInts(j, &v) != nil {
			return
		}
		var got corev1.PodSpec
		problems := Decode(v, &got, "")
		m, isMap := v.(map[string]any)
		if !isMap {
			if v != nil && len(problems) == 0 {
				t.Fatalf("%s decoded into a PodSpec without a problem", j)
			}
			return
		}
		var want corev1.PodSpec
		if strictErrs, err := kjson.UnmarshalStrict(j, &want); err == nil && len(strictErrs) == 0 && !strings.Contains(string(j), "{{") && !strings.Contains(string(j), "{%") {
			if len(problems) > 0 {
				t.Fatalf("%s: the API server reads it, Decode reports %v", j, problems)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Decode read %+v, the API server %+v", j, got, want)
			}
		}
		m["{{ k }}"] = true
		problems = Decode(m, &got, "")
		for _, p := range problems {
			if p.Path == "{{ k }}" {
				return
			}
		}
		t.Fatalf("templated key not reported: %v", problems)
	})
}
