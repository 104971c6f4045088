package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// controllerGen is the generator `make generate` runs; keep both in step.
const controllerGen = "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

const crdFile = "kestra-guard.io_policyexceptions.yaml"

// The committed deepcopy functions and CRD are what controller-gen makes of
// the types today: run `make generate` after changing types.go.
func TestGeneratedFilesMatchTypes(t *testing.T) {
	root := repoRoot()
	// A copy of the package inside the module (a dot folder, which ./...
	// ignores), so that controller-gen writes its deepcopy file there.
	tmp, err := os.MkdirTemp(root, ".gen-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	pkg := filepath.Join(root, "internal", "apis", "v1alpha1")
	files, err := filepath.Glob(filepath.Join(pkg, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		// Every file controller-gen reads: all but tests and its own output.
		f := filepath.Base(path)
		if strings.HasSuffix(f, "_test.go") || f == "zz_generated.deepcopy.go" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(pkg, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	crdDir := filepath.Join(tmp, "crds")
	cmd := exec.Command("go", "run", controllerGen, "object", "paths=./"+filepath.Base(tmp), "crd:crdVersions=v1", "output:crd:artifacts:config="+crdDir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	for _, c := range []struct{ generated, committed string }{
		{filepath.Join(tmp, "zz_generated.deepcopy.go"), filepath.Join(pkg, "zz_generated.deepcopy.go")},
		{filepath.Join(crdDir, crdFile), filepath.Join(root, "charts", "kestra-guard", "crds", crdFile)},
	} {
		want, err := os.ReadFile(c.generated)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(c.committed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what controller-gen generates; run make generate", c.committed)
		}
	}
}

// The CRD's enum of rule IDs is exactly the engine's rules, so that an
// exception can name every rule and nothing else.
func TestRuleEnumMatchesRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "charts", "kestra-guard", "crds", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatal(err)
	}
	rules := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["rules"].Items.Schema
	var enum []string
	for _, e := range rules.Enum {
		var s string
		if err := yaml.Unmarshal(e.Raw, &s); err != nil {
			t.Fatal(err)
		}
		enum = append(enum, s)
	}
	var ids []string
	for _, r := range policy.Rules {
		ids = append(ids, r.ID)
	}
	slices.Sort(enum)
	slices.Sort(ids)
	if !slices.Equal(enum, ids) {
		t.Errorf("RuleID enum in the CRD = %v\nrules in policy.Rules = %v\nrun make generate", enum, ids)
	}
}
