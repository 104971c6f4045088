package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/version"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// golden compares got with testdata/golden/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it); got:\n%s", path, t.Name(), got)
	}
}

// testdata/flowsrepo is a flows repository as CI checks it out: two flows
// (one denied), a hand-written task-runner Pod (denied, with a ConfigMap and
// a lower-case `kind: pod` beside it), the chart's values.yaml, a GitHub
// workflow and a hidden folder holding broken YAML, a file with two broken
// documents, and a README. check walks it once and reports everything:
// the decisions with field lines, every skip with its reason, both broken
// documents, and the summary, then exits 2.
func TestCheckFlowsRepository(t *testing.T) {
	code, out, errOut := execute(t, "", nil, "check", "testdata/flowsrepo")
	if code != 2 {
		t.Errorf("exit %d, want 2 (two documents cannot be read)", code)
	}
	golden(t, "flowsrepo.txt", out)
	for _, want := range []string{
		"kestra-guard: 2 input(s) cannot be read:\n",
		"testdata/flowsrepo/k8s/broken.yaml: document 1 (line 1): expected YAML or JSON",
		`testdata/flowsrepo/k8s/broken.yaml: document 2 (line 5): Pod: unknown field "spec.containerz"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q; stderr:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, ".github") || strings.Contains(out+errOut, ".git-like") {
		t.Errorf("a hidden folder was walked:\n%s%s", out, errOut)
	}
	if strings.Contains(out+errOut, "README.md") {
		t.Errorf("a file that is not YAML or JSON was read:\n%s%s", out, errOut)
	}

	// Without the broken file, the denials decide: exit 1.
	code, out, _ = execute(t, "", nil, "check", "testdata/flowsrepo/flows", "testdata/flowsrepo/values.yaml")
	if code != 1 || !strings.HasSuffix(out, "3 objects: 1 allowed, 1 denied, 1 skipped\n") {
		t.Errorf("exit %d, output:\n%s\nwant exit 1 and the summary 3 objects: 1 allowed, 1 denied, 1 skipped", code, out)
	}
	// --strict refuses values.yaml but still evaluates the flows.
	code, out, errOut = execute(t, "", nil, "check", "--strict", "testdata/flowsrepo/flows", "testdata/flowsrepo/values.yaml")
	if code != 2 || !strings.Contains(errOut, "testdata/flowsrepo/values.yaml: document 1 (line 1): not a Kubernetes object") ||
		!strings.HasSuffix(out, "2 objects: 1 allowed, 1 denied, 0 skipped; 1 inputs cannot be read\n") {
		t.Errorf("--strict: exit %d, output:\n%s%s", code, out, errOut)
	}
	// Every path that cannot be read is reported, and the others evaluated.
	code, out, errOut = execute(t, "", nil, "check", "nope.yaml", "testdata/flowsrepo/k8s/broken.yaml", "missing/", "testdata/flowsrepo/flows")
	if code != 2 || !strings.Contains(errOut, "4 input(s) cannot be read") || !strings.Contains(errOut, "nope.yaml: ") ||
		!strings.Contains(errOut, "missing/: ") || !strings.HasSuffix(out, "2 objects: 1 allowed, 1 denied, 0 skipped; 4 inputs cannot be read\n") {
		t.Errorf("several unreadable paths: exit %d, output:\n%s%s", code, out, errOut)
	}
	// A hidden folder named explicitly is read.
	code, _, errOut = execute(t, "", nil, "check", "testdata/flowsrepo/.git-like")
	if code != 2 || !strings.Contains(errOut, "testdata/flowsrepo/.git-like/broken.yaml: document 1 (line 1)") {
		t.Errorf("a hidden folder named explicitly: exit %d, stderr:\n%s", code, errOut)
	}
}

// The SARIF log of the flows repository is valid against the SARIF 2.1.0
// schema (testdata/golden/sarif-schema-2.1.0.json, from
// oasis-tcs/sarif-spec sarif-2.1/schema at e058381) and matches the golden
// file: a result per violation at its field's line, error for deny, the
// unreadable documents as error notifications of a failed invocation.
func TestCheckSARIF(t *testing.T) {
	code, out, _ := execute(t, "", nil, "check", "-o", "sarif", "testdata/flowsrepo")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	validateSARIF(t, []byte(out))
	golden(t, "flowsrepo.sarif", strings.Replace(out, `"version": "`+version.Get().Version+`"`, `"version": "VERSION"`, 1))
}

func validateSARIF(t *testing.T, log []byte) {
	t.Helper()
	if err := sarifInvalid(log); err != nil {
		t.Errorf("SARIF output is not valid SARIF 2.1.0: %v", err)
	}
}

// sarifInvalid validates log against the vendored SARIF 2.1.0 schema.
func sarifInvalid(log []byte) error {
	f, err := os.Open(filepath.Join("testdata", "golden", "sarif-schema-2.1.0.json"))
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	schema, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", schema); err != nil {
		return err
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(log))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// The schema check can fail: a result without a message, or with a level
// SARIF does not know, is refused.
func TestSARIFSchemaRefusesABrokenLog(t *testing.T) {
	for name, log := range map[string]string{
		"no message": `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r"}]}]}`,
		"bad level":  `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r", "level": "deny", "message": {"text": "m"}}]}]}`,
	} {
		if sarifInvalid([]byte(log)) == nil {
			t.Errorf("%s: passed the SARIF schema", name)
		}
	}
	if err := sarifInvalid([]byte(`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r", "level": "error", "message": {"text": "m"}}]}]}`)); err != nil {
		t.Errorf("a minimal valid log was refused: %v", err)
	}
}

func TestCheckJUnit(t *testing.T) {
	code, out, _ := execute(t, "", nil, "check", "-o", "junit", "testdata/flowsrepo")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	golden(t, "flowsrepo.junit.xml", out)
}

// The CI examples the README points at run as written: every
// `kestra-guard` command of docs/ci/github-actions.yml, and the
// pre-commit hook's entry, with the repository's values file for
// deploy/kestra-guard-values.yaml and testdata/flowsrepo/flows for ".".
func TestCIExamplesRun(t *testing.T) {
	var cmds []string
	wf, err := os.ReadFile("../../docs/ci/github-actions.yml")
	if err != nil {
		t.Fatal(err)
	}
	var workflow struct {
		Jobs map[string]struct {
			Steps []struct {
				Run string `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(wf, &workflow); err != nil {
		t.Fatalf("github-actions.yml: %v", err)
	}
	for _, j := range workflow.Jobs {
		for _, s := range j.Steps {
			for _, line := range strings.Split(s.Run, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "kestra-guard ") {
					cmds = append(cmds, strings.TrimSpace(line))
				}
			}
		}
	}
	hooksFile, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID    string `json:"id"`
		Entry string `json:"entry"`
		Files string `json:"files"`
	}
	if err := yaml.Unmarshal(hooksFile, &hooks); err != nil || len(hooks) != 1 || hooks[0].ID != "kestra-guard-check" {
		t.Fatalf(".pre-commit-hooks.yaml: %+v, %v", hooks, err)
	}
	if !regexp.MustCompile(hooks[0].Files).MatchString("flows/a.yml") {
		t.Errorf("the hook's files pattern %q does not match flows/a.yml", hooks[0].Files)
	}
	cmds = append(cmds, hooks[0].Entry+" --values deploy/kestra-guard-values.yaml testdata/flowsrepo/flows/team/steal.yaml")
	if len(cmds) < 4 {
		t.Fatalf("found %d kestra-guard commands, want the 3 of the workflow and the hook's", len(cmds))
	}
	for _, c := range cmds {
		c, _, _ = strings.Cut(c, ">")
		c, _, _ = strings.Cut(c, "#")
		args := strings.Fields(c)[1:]
		for i, a := range args {
			switch a {
			case "deploy/kestra-guard-values.yaml":
				args[i] = "../../charts/kestra-guard/values.yaml"
			case ".":
				args[i] = "testdata/flowsrepo/flows"
			}
		}
		if code, out, errOut := execute(t, "", nil, args...); code != 1 {
			t.Errorf("%s: exit %d, want 1 (a flow is denied):\n%s%s", c, code, out, errOut)
		}
	}
}
