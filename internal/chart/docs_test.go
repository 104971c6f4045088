package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// charts/kestra-guard/README.md is what `make chart-docs` generates from
// values.yaml now: a value changed without regenerating fails here.
func TestChartREADMEIsGenerated(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join(Dir(), "README.md.gotmpl"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(Dir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := README(tmpl, values)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(Dir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("charts/kestra-guard/README.md differs from values.yaml: run make chart-docs")
	}
}

// Every value, nested ones included, is in the table with its default and
// its comment.
func TestValuesDocs(t *testing.T) {
	docs, err := ValuesDocs([]byte("# -- The mode.\n# Second line.\nmode: enforce\nimage:\n  # -- Repository.\n  repository: x\n  tag: \"\"\n# -- A map.\naudit:\n  enabled: true\nlist: [a, b]\nempty: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, strings.Join([]string{d.Key, d.Type, d.Default, d.Description}, "|"))
	}
	want := []string{
		`mode|string|"enforce"|The mode. Second line.`,
		`image.repository|string|"x"|Repository.`,
		`image.tag|string|""|`,
		`audit|object||A map.`,
		`audit.enabled|bool|true|`,
		`list|list|["a","b"]|`,
		`empty|object|{}|`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The packaged chart holds the generated README and the schema, not the
// README template, and loads back as the same chart.
func TestPackage(t *testing.T) {
	out, err := Package(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b := filepath.Base(out); !strings.HasPrefix(b, "kestra-guard-") || !strings.HasSuffix(b, ".tgz") {
		t.Errorf("archive %s", out)
	}
	ch, err := loader.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ch.Raw {
		names = append(names, f.Name)
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"README.md", "values.yaml", "values.schema.json", "templates/webhooks.yaml"} {
		if !strings.Contains(" "+all+" ", " "+want+" ") {
			t.Errorf("package lacks %s: %s", want, all)
		}
	}
	if strings.Contains(all, "README.md.gotmpl") {
		t.Errorf("package holds the README template: %s", all)
	}
}
