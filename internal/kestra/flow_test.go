package kestra

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config/configtest"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

func engine(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := policy.NewEngine(policy.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	wantLine = regexp.MustCompile(`(?m)^# want: (\S+) (.+)$`)
	noteLine = regexp.MustCompile(`(?m)^# note: (.+)$`)
)

// Each file in testdata/flows is one case: its "# want: RULE FIELD" lines
// are the denials it must get (a file with none must be allowed), its
// "# note: TEXT" lines notes it must get (a note holding TEXT). Each case
// is a way the lint once let through what Kestra would run.
func TestFlowFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/flows/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	e := engine(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := input.Parse(file, b)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]policy.Violation{}
			var all []policy.Violation
			var notes []string
			for _, o := range objs {
				if o.Flow == nil {
					t.Fatalf("%s holds a %s, not a flow", file, o.Kind)
				}
				vs, ns := Flow(e, testScope(t), o.Flow)
				all, notes = append(all, vs...), append(notes, ns...)
				for _, v := range vs {
					got[v.Rule+" "+v.Field] = v
				}
			}
			allowed := !(policy.Result{Violations: all}).Denied()
			wants := wantLine.FindAllStringSubmatch(string(b), -1)
			if len(wants) == 0 && !allowed {
				t.Errorf("want allowed, got %+v", all)
			}
			if len(wants) > 0 && allowed {
				t.Errorf("want denied, got allowed: %+v", all)
			}
			for _, w := range wants {
				v, ok := got[w[1]+" "+w[2]]
				if !ok || v.Action != policy.Deny {
					t.Errorf("want a denial %s at %s; got:\n%s", w[1], w[2], list(all))
				}
			}
			for _, n := range noteLine.FindAllStringSubmatch(string(b), -1) {
				if !slices.ContainsFunc(notes, func(s string) bool { return strings.Contains(s, n[1]) }) {
					t.Errorf("want a note holding %q; got %q", n[1], notes)
				}
			}
		})
	}
}

func list(vs []policy.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.String() + " " + string(v.Action) + "\n")
	}
	return b.String()
}

// A value that cannot be checked names its rule and field, says so, and
// takes the action of the rule it feeds (off: not reported).
func TestFlowCannotBeCheckedStatically(t *testing.T) {
	flow := func(podSpec string) map[string]any {
		f, err := input.ParseFlow([]byte(`id: f
namespace: n
tasks:
  - id: t
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.ee.kubernetes.runner.Kubernetes
      podSpec: ` + podSpec + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for name, tc := range map[string]struct {
		podSpec, rule, field, detail string
		off                          bool
	}{
		"templated boolean": {`{hostNetwork: "{{ inputs.x }}"}`, "no-host-network", "tasks[0].taskRunner.podSpec.hostNetwork", `"{{ inputs.x }}" is a template Kestra renders at run time, where a boolean is needed`, false},
		"templated integer": {`{securityContext: {runAsUser: "{% if true %}0{% endif %}"}}`, "run-as-non-root", "tasks[0].taskRunner.podSpec.securityContext.runAsUser", "where an integer (int64) is needed", false},
		"not a boolean":     {`{hostPID: "yes"}`, "no-host-namespaces", "tasks[0].taskRunner.podSpec.hostPID", `expected a boolean, found "yes"`, false},
		"a container's field": {`{containers: [{name: c, securityContext: {windowsOptions: {hostProcess: "{{ x }}"}}}]}`, "no-host-process",
			"tasks[0].taskRunner.podSpec.containers[0].securityContext.windowsOptions.hostProcess", "where a boolean is needed", false},
		"templated key": {`{"{{ k }}": true}`, StaticRule, "tasks[0].taskRunner.podSpec.{{ k }}", `the key "{{ k }}" is a template`, false},
		"wrong shape":   {`{containers: {name: main}}`, StaticRule, "tasks[0].taskRunner.podSpec.containers", "expected a list, found an object", false},
		"rule off":      {`{hostNetwork: "{{ inputs.x }}"}`, "", "", "", true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			if tc.off {
				cfg.Rules = map[string]policy.Action{"no-host-network": policy.Off}
			}
			e, err := policy.NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := Flow(e, testScope(t), flow(tc.podSpec))
			if tc.off {
				if len(vs) != 0 {
					t.Errorf("want nothing with the rule off, got %v", vs)
				}
				return
			}
			if len(vs) != 1 {
				t.Fatalf("want one violation, got %v", vs)
			}
			v := vs[0]
			if v.Rule != tc.rule || v.Field != tc.field || v.Reason != "cannot be checked statically" || v.Action != policy.Deny || !strings.Contains(v.Detail, tc.detail) {
				t.Errorf("got %+v, want rule %s field %s detail containing %q", v, tc.rule, tc.field, tc.detail)
			}
		})
	}
}

// Any flow is linted without a panic; a templated key put into a runner's
// podSpec is always a denial naming it.
func FuzzFlow(f *testing.F) {
	for _, file := range []string{"defaults-prefix", "apply-list", "case-variant", "benign", "kubectl-apply-allow-all-egress", "kubectl-patch-namespace-label", "kubectl-patch-json-privileged", "kubectl-harmless"} {
		b, err := os.ReadFile("testdata/flows/" + file + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(`{hostNetwork: "true"}`))
	}
	f.Add([]byte("id: f\nnamespace: n\ntasks: []\n"), []byte(`{volumes: [{name: v, hostPath: {path: "{{ p }}"}}]}`))
	e := engine(f)
	f.Fuzz(func(t *testing.T, flow, podSpec []byte) {
		if m, err := input.ParseFlow(flow); err == nil {
			Flow(e, testScope(t), m)
		}
		spec, err := input.ParseFlow(podSpec)
		if err != nil {
			return
		}
		spec["{{ k }}"] = true
		vs, _ := Flow(e, testScope(t), map[string]any{"id": "f", "namespace": "n", "tasks": []any{map[string]any{
			"id": "t", "type": "io.kestra.plugin.scripts.shell.Commands",
			"taskRunner": map[string]any{"type": "io.kestra.plugin.ee.kubernetes.runner.Kubernetes", "podSpec": spec},
		}}})
		for _, v := range vs {
			if v.Rule == StaticRule && v.Field == "tasks[0].taskRunner.podSpec.{{ k }}" && v.Action == policy.Deny {
				return
			}
		}
		t.Fatalf("templated key not denied: %v", vs)
	})
}

func testScope(t testing.TB) *scope.Scope {
	t.Helper()
	return configtest.Compiled(t).Scope
}
