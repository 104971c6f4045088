package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// CHANGELOG.md accounts for every rule kestra-guard ships: a rule added to
// policy.Rules without a line in the changelog fails here, in CI, before
// `make release` would refuse it.
func TestChangelogAccountsForEveryRule(t *testing.T) {
	if err := run(filepath.Join(framework.RepoRoot(), "CHANGELOG.md"), ""); err != nil {
		t.Error(err)
	}
}

func TestCheck(t *testing.T) {
	const base = "# Changelog\n\n## 0.1.0 (2026-11-28)\n\n### Rules\n\n- Added `a`\n- Added `b`\n"
	cases := map[string]struct {
		changelog, release string
		rules              []string
		want               string // in the error; empty: no error
	}{
		"accounted":               {changelog: "## Unreleased\n### Rules\n- Added `c`: new\n" + base, rules: []string{"a", "b", "c"}},
		"rule not in changelog":   {changelog: base, rules: []string{"a", "b", "c"}, want: "rule c is in policy.Rules but no section of CHANGELOG.md adds it"},
		"removed rule still said": {changelog: base, rules: []string{"a"}, want: "rule b is added but not in policy.Rules"},
		"removed":                 {changelog: "## 0.2.0 (2027-01-01)\n### Rules\n- Removed `b`\n" + base, rules: []string{"a"}, release: "v0.2.0"},
		"changed unknown":         {changelog: "## Unreleased\n### Rules\n- Changed `z`: x\n" + base, rules: []string{"a", "b"}, want: "changed z, which no earlier section adds"},
		"added twice":             {changelog: "## Unreleased\n### Rules\n- Added `a`\n" + base, rules: []string{"a", "b"}, want: "a is added again"},
		"release of Unreleased":   {changelog: "## Unreleased\n### Rules\n- Added `c`\n" + base, rules: []string{"a", "b", "c"}, release: "v0.2.0", want: `the newest section is "Unreleased"; releasing 0.2.0`},
		"release again":           {changelog: "## 0.1.0 (2026-12-01)\n" + base, rules: []string{"a", "b"}, release: "0.1.0", want: "0.1.0 is already released"},
		"other sections ignored":  {changelog: "## Unreleased\n### Values\n- Added `x` value\n" + base, rules: []string{"a", "b"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(c.changelog))
			if err == nil {
				err = Check(s, c.rules, c.release)
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v; want one containing %q", err, c.want)
			}
		})
	}
}

// A Rules item that is not Added/Changed/Removed and one ID is refused,
// so that a rule cannot be named in a way the check does not read.
func TestParseRefusesFreeText(t *testing.T) {
	_, err := Parse(strings.NewReader("## Unreleased\n### Rules\n- New rule `c`\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v; want one naming line 3", err)
	}
}
