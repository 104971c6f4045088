package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

func execute(t *testing.T, stdin string, serve ServeFunc, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if serve == nil {
		serve = func(context.Context, config.Config) error { t.Fatal("serve must not run"); return nil }
	}
	code := Execute(context.Background(), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, args, serve)
	return code, out.String(), errOut.String()
}

func TestCheckExitCodesAndOutput(t *testing.T) {
	for name, tc := range map[string]struct {
		args     []string
		stdin    string
		code     int
		contains string
	}{
		"a flow that would be denied": {[]string{"check", "testdata/flow.yaml"}, "", 1,
			"testdata/flow.yaml: Flow company.team/steal: no-host-path: tasks[0].taskRunner.podSpec.volumes[0].hostPath.path: host path volume is forbidden"},
		"audit mode warns and exits 0":          {[]string{"check", "--mode", "audit", "testdata/flow.yaml"}, "", 0, "(warn: "},
		"a hardened Pod passes":                 {[]string{"check", "testdata/hardened.yaml"}, "", 0, "metadata-egress-blocked: not evaluated"},
		"egress required":                       {[]string{"check", "--require-network-policy", "testdata/hardened.yaml"}, "", 1, "no NetworkPolicy with Egress"},
		"stdin":                                 {[]string{"check", "-"}, "kind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: true, containers: [{name: a, image: b}]}\n", 1, "<stdin>: Pod default/p: no-host-network"},
		"unknown field names document and line": {[]string{"check", "-"}, "---\nkind: Pod\nmetadata: {name: x}\n---\n\nkind: Pod\nspec: {containers: [{name: a, imagee: b}]}\n", 2, `document 2 (line 5): Pod: unknown field "spec.containers[0].imagee"`},
		"neither object nor flow":               {[]string{"check", "-"}, "foo: bar\n", 2, "expected a Kubernetes object (apiVersion and kind) or a Kestra flow"},
		"a templated value fails closed": {[]string{"check", "-"}, "id: f\nnamespace: team\ntasks:\n- id: t\n  type: io.kestra.plugin.kubernetes.core.PodCreate\n  spec: {hostNetwork: \"{{ inputs.h }}\", containers: [{name: c, image: b}]}\n", 1,
			"<stdin>: Flow team/f: no-host-network: tasks[0].spec.hostNetwork: cannot be checked statically (deny: "},
		"a KestraFlow is read as a flow": {[]string{"check", "-"}, "kind: KestraFlow\nmetadata: {name: kf}\nspec:\n  source: |\n    id: f\n    namespace: n\n    variables: {imds: 2852039166}\n    tasks: []\n", 1,
			"<stdin>: KestraFlow default/kf: no-metadata-address: variables.imds: metadata address in flow"},
		"a List's Pods are checked": {[]string{"check", "-"}, "kind: List\nitems: [{kind: Pod, metadata: {name: p}, spec: {hostNetwork: true, containers: [{name: a, image: b}]}}]\n", 1,
			"<stdin>: Pod default/p: no-host-network"},
		"a key in another case is refused": {[]string{"check", "-"}, "kind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: true, hostnetwork: false, containers: [{name: a, image: b}]}\n", 2,
			`unknown field "spec.hostnetwork" (keys are case-sensitive`},
		"missing file": {[]string{"check", "nope.yaml"}, "", 2, "nope.yaml"},
		"bad output":   {[]string{"check", "-o", "xml", "testdata/hardened.yaml"}, "", 2, `--output "xml"`},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := execute(t, tc.stdin, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.contains) {
				t.Errorf("exit %d, want %d; output:\n%s%s\nwant it to contain %q", code, tc.code, out, errOut, tc.contains)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	code, out, _ := execute(t, "", nil, "check", "-o", "json", "testdata/flow.yaml")
	var doc struct {
		Results []struct {
			Kind       string
			Allowed    bool
			Violations []struct{ Rule, Field, Reason, Detail, Action string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if len(doc.Results) != 1 || doc.Results[0].Allowed || len(doc.Results[0].Violations) != 3 {
		t.Fatalf("results = %+v", doc.Results)
	}
	if v := doc.Results[0].Violations[0]; v.Rule != "no-metadata-address" || v.Field != "tasks[0].commands[0]" || v.Action != "deny" {
		t.Errorf("first violation = %+v", v)
	}
}

func TestMutatePatch(t *testing.T) {
	code, out, errOut := execute(t, "", nil, "mutate", "--patch", "../policy/testdata/pods/kestra-default.yaml")
	if code != 0 || !strings.Contains(out, `"runAsNonRoot":true`) || !strings.HasPrefix(out, `[{"op":`) {
		t.Errorf("exit %d: %s%s", code, out, errOut)
	}
}

// Flags win over the config file; an invalid config lists every error
// with its path and stops start-up.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("mode: audit\nnamespace: guard\npolicy:\n  rules: {no-host-path: warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got config.Config
	serve := func(_ context.Context, c config.Config) error { got = c; return nil }
	if code, _, errOut := execute(t, "", serve, "serve", "--config", file, "--port", "10443"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got.Mode != config.Audit || got.Server.Port != 10443 || got.Namespace != "guard" || got.Policy.Rules["no-host-path"] != "warn" {
		t.Errorf("config = %+v", got)
	}
	if err := os.WriteFile(file, []byte("mode: block\npolicy:\n  metadataCIDRs: [nope]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := execute(t, "", serve, "serve", "--config", file, "--port", "0")
	for _, want := range []string{`mode: "block"`, `policy.metadataCIDRs[0]: "nope"`, "server.port: 0"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
}
