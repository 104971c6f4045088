package intree

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// The committed template and README table are what the registry gives:
// changing a rule's CEL without `make generate` fails here.
func TestGeneratedFilesCurrent(t *testing.T) {
	files, err := Files(repoRoot(), policy.Rules)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot(), path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what policy.Rules gives; run make generate", path)
		}
	}
}

func TestValidations(t *testing.T) {
	r := policy.Rule{ID: "no-x", InTree: &policy.InTree{Checks: []policy.CELCheck{
		{Expr: "object.spec.?x.orValue(0) == 0", Field: "spec.x", Message: "x is set; remove it"},
		{Each: policy.EachContainer, Expr: "c.?y.orValue('') == ''", Field: ".y", Message: "y is set; remove it"},
		{Each: "spec.securityContext.sysctls", Expr: "v.name == 'ok'", Field: ".name", Message: "unsafe; remove it"},
	}}}
	vs, err := Validations(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 5 {
		t.Fatalf("got %d validations, want 1 + 3 container lists + 1", len(vs))
	}
	if vs[0].Message != "kestra-guard: no-x: spec.x: x is set; remove it" || vs[0].Reason != "Forbidden" {
		t.Errorf("pod-level validation: %+v", vs[0])
	}
	if vs[2].Expression != "object.spec.?containers.orValue([]).all(c, c.?y.orValue('') == '')" ||
		!strings.Contains(vs[2].MessageExpression, `"spec.containers[" + string(i) + "].y"`) {
		t.Errorf("container validation: %+v", vs[2])
	}
	if vs[4].Expression != "object.spec.?securityContext.?sysctls.orValue([]).all(v, v.name == 'ok')" {
		t.Errorf("list validation: %+v", vs[4])
	}
	// A Pod-level check that starts as a container list's check would be
	// read as one by the policies' match condition (templates/intree.yaml)
	// and joined, wrongly, with the list's other checks.
	for _, bad := range []policy.CELCheck{{Expr: "true"}, {Each: "volumes", Expr: "true", Message: "m"},
		{Expr: "object.spec.?containers.orValue([]).all(c, c.name != 'x') || object.spec.?initContainers.orValue([]).all(c, c.name != 'y')", Message: "m"},
		// Not one expression: the policies would write it where it changes
		// what follows.
		{Each: policy.EachContainer, Expr: "true) || (false", Message: "m"},
		{Each: policy.EachContainer, Expr: "c.name != 'x' // a comment", Message: "m"}} {
		if _, err := Validations(policy.Rule{ID: "no-x", InTree: &policy.InTree{Checks: []policy.CELCheck{bad}}}); err == nil || !strings.Contains(err.Error(), "no-x") {
			t.Errorf("%+v: error %v, want one naming the rule", bad, err)
		}
	}
}

// The in-tree policies compare the start gate's arguments with what the
// chart renders (kestra-guard.gateArgs); they must be the arguments
// kestra-guard itself builds from the same values, or the in-tree start-gate
// check refuses every gated Pod.
func TestGateArgsAsKestraGuardBuildsThem(t *testing.T) {
	for name, gate := range map[string]map[string]any{
		"defaults":      {},
		"seconds":       {"attemptTimeout": "1s", "interval": "250ms", "timeout": "90s", "consecutive": 5},
		"hours, canary": {"timeout": "1h", "interval": "2000ms", "canary": "10.96.0.1:443", "endpoints": []any{"169.254.169.254:80"}},
	} {
		values := map[string]any{"admission": map[string]any{"mode": "inTree"}, "startGate": gate}
		objs, _, _, cfg, err := framework.RenderedWebhooks(values)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		compiled, err := cfg.Compile()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := compiled.Engine.Options().Gate.Args
		got := gateArgs(t, objs)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the in-tree policy expects the gate's args\n%q\nkestra-guard builds\n%q", name, got, want)
		}
	}
	if _, _, _, _, err := framework.RenderedWebhooks(map[string]any{"admission": map[string]any{"mode": "both"}, "startGate": map[string]any{"timeout": "1m30s"}}); err == nil || !strings.Contains(err.Error(), "startGate.timeout") {
		t.Errorf("a duration the chart cannot spell as Go does: %v, want an error naming startGate.timeout", err)
	}
}

func gateArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
		vars, _, _ := unstructured.NestedSlice(o.Object, "spec", "variables")
		for _, v := range vars {
			m := v.(map[string]any)
			if m["name"] == "gateArgs" {
				var args []string
				if err := json.Unmarshal([]byte(m["expression"].(string)), &args); err != nil {
					t.Fatalf("gateArgs %q: %v", m["expression"], err)
				}
				return args
			}
		}
	}
	t.Fatal("no ValidatingAdmissionPolicy with a gateArgs variable")
	return nil
}

// Every rule has an in-tree form, so that a new rule is not silently left
// to the webhook: a rule CEL cannot decide at all must say so with a form
// whose WebhookOnly explains it.
func TestEveryRuleHasAnInTreeForm(t *testing.T) {
	for _, r := range policy.Rules {
		if r.InTree == nil || (len(r.InTree.Checks) == 0 && r.InTree.WebhookOnly == "") {
			t.Errorf("rule %s has no in-tree form: give it CEL checks (policy.InTree), or say in WebhookOnly why CEL cannot decide it", r.ID)
		}
	}
}

// A rule's action picks the policy its validations go to: deny, warn, or
// none for off (also YAML's unquoted off, which reaches Helm as false).
func TestRuleActionPicksThePolicy(t *testing.T) {
	objs, _, _, _, err := framework.RenderedWebhooks(map[string]any{"policy": map[string]any{
		"rules": map[string]any{"no-host-ports": false, "no-cloud-identity": "deny", "no-privileged": "warn"}}})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
		vs, _, _ := unstructured.NestedSlice(o.Object, "spec", "validations")
		for _, v := range vs {
			m := v.(map[string]any)
			msg, _ := m["message"].(string)
			if msg == "" {
				msg, _ = m["messageExpression"].(string)
			}
			for _, r := range policy.Rules {
				if strings.Contains(msg, "kestra-guard: "+r.ID+": ") && !slices.Contains(rules[o.GetName()], r.ID) {
					rules[o.GetName()] = append(rules[o.GetName()], r.ID)
				}
			}
		}
	}
	for policyName, want := range map[string]map[string]bool{
		"kestra-guard-deny": {"no-cloud-identity": true, "no-privileged": false, "no-host-ports": false, "run-as-non-root": true, "allowed-registries": false},
		"kestra-guard-warn": {"no-privileged": true, "no-service-account-token": true, "no-host-ports": false, "no-cloud-identity": false},
	} {
		for id, in := range want {
			if slices.Contains(rules[policyName], id) != in {
				t.Errorf("%s holds %v; want %s in it: %t", policyName, rules[policyName], id, in)
			}
		}
	}
}
