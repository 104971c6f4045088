package ruledoc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// The committed README table and RuleID enum are what the registry gives:
// adding a rule without `make generate` fails here.
func TestGeneratedFilesCurrent(t *testing.T) {
	files, err := Files(policy.Rules)
	if err != nil {
		t.Fatal(err)
	}
	top, err := root()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(top, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what policy.Rules gives; run make generate", path)
		}
	}
}

func TestTableRows(t *testing.T) {
	rules := []policy.Rule{{ID: "no-x", Since: "v0.1.0", Default: policy.Warn, Doc: policy.RuleDoc{Forbids: "`x: true`", Threat: "t", Fix: "f"},
		Changes: []policy.Change{{Version: "v0.2.0", NotPinned: "a default"}, {Version: "v0.3.0", Before: func(now policy.CheckFunc) policy.CheckFunc { return now }}}}}
	want := "| ID | since | default | forbids | threat | fix |\n|---|---|---|---|---|---|\n| `no-x` | v0.1.0; changed in v0.2.0 (every version); changed in v0.3.0 (pinned) | warn | `x: true` | t | f |\n"
	if got := Table(rules); got != want {
		t.Errorf("Table = %q, want %q", got, want)
	}
	readme := []byte("intro\n" + TableBegin + "\nold\n" + TableEnd + "\nafter\n")
	got, err := UpdateREADME(readme, rules)
	if err != nil || string(got) != "intro\n"+TableBegin+"\n"+want+TableEnd+"\nafter\n" {
		t.Errorf("UpdateREADME = %q, %v", got, err)
	}
	if _, err := UpdateREADME([]byte("no markers"), rules); err == nil || !strings.Contains(err.Error(), "rules:begin") {
		t.Errorf("README without markers: %v", err)
	}
	if _, err := RuleIDSource([]policy.Rule{{ID: "a;b"}}); err == nil {
		t.Error("an ID with a semicolon would split the CRD enum")
	}
}
