package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

func execute(t *testing.T, stdin string, serve ServeFunc, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if serve == nil {
		serve = func(context.Context, *config.Compiled) error { t.Fatal("serve must not run"); return nil }
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
			"testdata/flow.yaml:12: Flow company.team/steal: no-host-path: tasks[0].taskRunner.podSpec.volumes[0].hostPath.path: host path volume is forbidden"},
		"audit mode warns and exits 0":          {[]string{"check", "--mode", "audit", "testdata/flow.yaml"}, "", 0, "(warn: "},
		"a hardened Pod passes":                 {[]string{"check", "testdata/hardened.yaml"}, "", 0, "metadata-egress-blocked: not evaluated"},
		"egress required":                       {[]string{"check", "--no-mutate", "--require-network-policy", "testdata/hardened.yaml"}, "", 1, "no NetworkPolicy with Egress"},
		"egress required, managed policy":       {[]string{"check", "--require-network-policy", "testdata/hardened.yaml"}, "", 0, "would set spec.containers[0].env[HOME]=/tmp"},
		"stdin":                                 {[]string{"check", "--all-pods", "-"}, "kind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: true, containers: [{name: a, image: b}]}\n", 1, "<stdin>:3: Pod default/p: no-host-network"},
		"unknown field names document and line": {[]string{"check", "-"}, "---\nkind: Pod\nmetadata: {name: x}\n---\n\nkind: Pod\nspec: {containers: [{name: a, imagee: b}]}\n", 2, `document 2 (line 5): Pod: unknown field "spec.containers[0].imagee"`},
		"neither object nor flow":               {[]string{"check", "-"}, "foo: bar\n", 0, "<stdin>:1: document: skipped: not a Kubernetes object (apiVersion and kind) or a Kestra flow"},
		"--strict refuses it":                   {[]string{"check", "--strict", "-"}, "foo: bar\n", 2, "<stdin>: document 1 (line 1): not a Kubernetes object (apiVersion and kind) or a Kestra flow (id, namespace and tasks) (--strict)"},
		"lower-case pod is skipped, not silent": {[]string{"check", "-"}, "kind: pod\nmetadata: {name: p}\n", 0, `<stdin>:1: pod default/p: skipped: kind "pod" is not Pod`},
		"--strict refuses lower-case pod":       {[]string{"check", "--strict", "-"}, "kind: pod\nmetadata: {name: p}\n", 2, `kind "pod" is not Pod`},
		"--strict keeps other kinds skipped":    {[]string{"check", "--strict", "-"}, "kind: ConfigMap\nmetadata: {name: c}\n", 0, "ConfigMap default/c: skipped: kind ConfigMap holds no Pod"},
		"a templated value fails closed": {[]string{"check", "-"}, "id: f\nnamespace: team\ntasks:\n- id: t\n  type: io.kestra.plugin.kubernetes.core.PodCreate\n  spec: {hostNetwork: \"{{ inputs.h }}\", containers: [{name: c, image: b}]}\n", 1,
			"<stdin>:6: Flow team/f: no-host-network: tasks[0].spec.hostNetwork: cannot be checked statically (deny: "},
		"a KestraFlow is read as a flow": {[]string{"check", "-"}, "kind: KestraFlow\nmetadata: {name: kf}\nspec:\n  source: |\n    id: f\n    namespace: n\n    variables: {imds: 2852039166}\n    tasks: []\n", 1,
			"<stdin>:1: KestraFlow default/kf: no-metadata-address: variables.imds: metadata address in flow"},
		"a List's Pods are checked": {[]string{"check", "--all-pods", "-"}, "kind: List\nitems: [{kind: Pod, metadata: {name: p}, spec: {hostNetwork: true, containers: [{name: a, image: b}]}}]\n", 1,
			"<stdin>:1: Pod default/p: no-host-network"},
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

// check judges a Pod as enforce mode would admit it: mutated first, the
// mutations listed apart, exit 1 only for what enforce would deny; and only
// the Pods the webhook intercepts.
func TestCheckAsTheClusterWouldAdmit(t *testing.T) {
	for name, tc := range map[string]struct {
		args        []string
		code        int
		contains    []string
		notContains []string
	}{
		"Kestra's default Pod is admitted after mutation": {[]string{"check", "testdata/kestra-default.yaml"}, 0, []string{
			"testdata/kestra-default.yaml:1: Pod kestra/kestra-default: would set spec.securityContext.runAsUser=65532",
			"Pod kestra/kestra-default: would set spec.containers[0].env[HOME]=/tmp",
			"Pod kestra/kestra-default: would set spec.automountServiceAccountToken=false",
		}, []string{"(deny: ", "(warn: "}},
		"--no-mutate keeps the strict lint": {[]string{"check", "--no-mutate", "testdata/kestra-default.yaml"}, 1, []string{
			"Pod kestra/kestra-default: run-as-non-root: spec.initContainers[0].securityContext.runAsNonRoot: container may run as root (deny: ",
		}, []string{"would set"}},
		"an explicit violation is denied": {[]string{"check", "testdata/docker-socket.yaml"}, 1, []string{
			"Pod kestra/docker-socket: would set spec.containers[0].securityContext.readOnlyRootFilesystem=true",
			"Pod kestra/docker-socket: no-host-path: spec.volumes[0].hostPath.path: host path volume is forbidden (deny: ",
		}, []string{"run-as-non-root"}},
		"Kestra's webserver is skipped": {[]string{"check", "testdata/kestra-webserver.yaml"}, 0, []string{
			`testdata/kestra-webserver.yaml:1: Deployment kestra/kestra-webserver: skipped: not a task runner: its labels do not match taskRunnerSelector "kestra.io/taskrun-id" and kestra is not in runnerNamespaces (--all-pods evaluates it)`,
		}, []string{"would set", "deny"}},
		"--all-pods evaluates it": {[]string{"check", "--all-pods", "testdata/kestra-webserver.yaml"}, 0, []string{
			"Deployment kestra/kestra-webserver: would set spec.template.spec.containers[0].env[HOME]=/tmp",
			"testdata/kestra-webserver.yaml:15: Deployment kestra/kestra-webserver: no-service-account-token: spec.template.spec.automountServiceAccountToken: service account token may be mounted (warn: ",
		}, []string{"skipped:"}},
		"--all-pods --no-mutate": {[]string{"check", "--all-pods", "--no-mutate", "testdata/kestra-webserver.yaml"}, 1, []string{
			"Deployment kestra/kestra-webserver: read-only-root-filesystem: ",
		}, nil},
		"a runner namespace takes every Pod": {[]string{"check", "--runner-namespaces", "kestra", "--no-mutate", "testdata/kestra-webserver.yaml"}, 1, []string{
			"Deployment kestra/kestra-webserver: run-as-non-root: ",
		}, []string{"skipped:"}},
		"kube-system is never intercepted": {[]string{"check", "--all-pods=false", "-"}, 0, []string{
			"<stdin>:1: Pod kube-system/p: skipped: namespace kube-system is never intercepted",
		}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			stdin := "kind: Pod\nmetadata: {name: p, namespace: kube-system, labels: {kestra.io/taskrun-id: x}}\nspec: {hostNetwork: true, containers: [{name: a, image: b}]}\n"
			code, out, errOut := execute(t, stdin, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, want := range tc.contains {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, bad := range tc.notContains {
				if strings.Contains(out, bad) {
					t.Errorf("output has %q", bad)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s%s", out, errOut)
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
	serve := func(_ context.Context, c *config.Compiled) error {
		if c.Engine == nil || c.Scope == nil {
			t.Errorf("serve was handed a configuration not compiled: %+v", c)
		}
		got = c.Config
		return nil
	}
	if code, _, errOut := execute(t, "", serve, "serve", "--config", file, "--port", "10443"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got.Mode != scope.Audit || got.Server.Port != 10443 || got.Namespace != "guard" || got.Policy.Rules["no-host-path"] != "warn" {
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

// In JSON, mutations are a list of their own per result and skipped objects
// a top-level list with the reason.
func TestCheckJSONMutationsAndSkipped(t *testing.T) {
	code, out, _ := execute(t, "", nil, "check", "-o", "json", "testdata/kestra-default.yaml", "testdata/kestra-webserver.yaml")
	var doc struct {
		Results []struct {
			Name       string
			Allowed    bool
			Mutations  []string
			Violations []struct{ Rule string }
		}
		Skipped []struct{ Kind, Name, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if len(doc.Results) != 1 || !doc.Results[0].Allowed || len(doc.Results[0].Violations) != 0 || len(doc.Results[0].Mutations) == 0 {
		t.Errorf("results = %+v", doc.Results)
	}
	if len(doc.Skipped) != 1 || doc.Skipped[0].Name != "kestra-webserver" || !strings.HasPrefix(doc.Skipped[0].Reason, "not a task runner") {
		t.Errorf("skipped = %+v", doc.Skipped)
	}
}

// --values reads the chart's values file as the configuration: the engine
// config equals the one in the ConfigMap the chart renders from it.
func TestValuesReadLikeTheChartsConfigMap(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("mode: audit\npolicy:\n  rules:\n    no-host-path: off\n    seccomp-profile: warn\n  hostPathAllowList: [/opt/data]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"../../charts/kestra-guard/values.yaml", values} {
		t.Run(filepath.Base(filepath.Dir(file)), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rendered, err := chart.ConfigFromValues(b, "kestra-guard")
			if err != nil {
				t.Fatal(err)
			}
			want, err := config.Parse(rendered, "ConfigMap")
			if err != nil {
				t.Fatal(err)
			}
			var got config.Config
			serve := func(_ context.Context, c *config.Compiled) error { got = c.Config; return nil }
			if code, _, errOut := execute(t, "", serve, "serve", "--values", file); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("--values config:\n%+v\nConfigMap config:\n%+v", got, want)
			}
		})
	}
	code, out, errOut := execute(t, "", nil, "rules", "--values", values, "-o", "json")
	if code != 0 || !strings.Contains(out, `"id": "no-host-path",
      "action": "off"`) || !strings.Contains(out, `"id": "seccomp-profile",
      "action": "warn"`) {
		t.Errorf("rules --values: exit %d:\n%s%s", code, out, errOut)
	}
	code, _, errOut = execute(t, "", nil, "check", "--values", values, "--config", values, "testdata/hardened.yaml")
	if code != 2 || !strings.Contains(errOut, "none of the others can be") {
		t.Errorf("--values with --config: exit %d: %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("replicaCont: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = execute(t, "", nil, "check", "--values", bad, "testdata/hardened.yaml")
	if code != 2 || !strings.Contains(errOut, "replicaCont") {
		t.Errorf("misspelt value: exit %d: %s", code, errOut)
	}
}

// --mode is the config's mode in every command: from the file unless given,
// and audit or off turn check's denials into warnings with exit 0.
func TestModeMeansTheConfigsMode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("mode: audit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		code int
	}{
		"default enforce":     {[]string{"check", "testdata/flow.yaml"}, 1},
		"mode from the file":  {[]string{"check", "--config", file, "testdata/flow.yaml"}, 0},
		"flag wins over file": {[]string{"check", "--config", file, "--mode", "enforce", "testdata/flow.yaml"}, 1},
		"off admits":          {[]string{"check", "--mode", "off", "testdata/flow.yaml"}, 0},
		"unknown mode":        {[]string{"check", "--mode", "block", "testdata/flow.yaml"}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			if code, out, errOut := execute(t, "", nil, tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d:\n%s%s", code, tc.code, out, errOut)
			}
		})
	}
}

func TestRulesAndVersion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("policy:\n  rules:\n    no-host-ports: off\n    allowed-registries: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := execute(t, "", nil, "rules", "--config", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"RULE ", "no-host-ports              off     deny     container ports bound on the node", "allowed-registries         deny    off"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = execute(t, "", nil, "version", "-o", "json")
	var v struct{ Version, Commit, GoVersion string }
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Errorf("version: exit %d, %v: %s", code, err, out)
	}
}
