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

// A rule's Since and Changes agree with the sections that add and change
// it; a release that changes rules is policy.NextVersion.
func TestCheckVersions(t *testing.T) {
	const base = "# Changelog\n\n## 0.1.0 (2026-11-28)\n\n### Rules\n\n- Added `a`\n- Added `b`\n"
	known := []string{"v0.1.0", "v0.2.0"}
	rules := func(c []string, more ...RuleVersions) []RuleVersions {
		return append([]RuleVersions{{ID: "a", Since: "v0.1.0", Changed: c}, {ID: "b", Since: "v0.1.0"}}, more...)
	}
	cases := map[string]struct {
		changelog, release string
		rules              []RuleVersions
		known              []string
		want               string // in the error; empty: no error
	}{
		"agree": {changelog: "## Unreleased\n### Rules\n- Added `c`\n- Changed `a`: x\n" + base,
			rules: rules([]string{"v0.2.0"}, RuleVersions{ID: "c", Since: "v0.2.0"})},
		"Since disagrees": {changelog: "## Unreleased\n### Rules\n- Added `c`\n" + base,
			rules: rules(nil, RuleVersions{ID: "c", Since: "v0.1.0"}), want: `c is added in v0.2.0, but its Since says "v0.1.0"`},
		"a change the rule does not record": {changelog: "## Unreleased\n### Rules\n- Changed `a`: x\n" + base,
			rules: rules(nil), want: "a changed in v0.2.0, but its Changes record no change in v0.2.0"},
		"a change the changelog does not list": {changelog: base, rules: rules([]string{"v0.2.0"}),
			want: "rule a records a change in v0.2.0 (Changes), which CHANGELOG.md does not list"},
		"release of NextVersion": {changelog: "## 0.2.0 (2027-01-01)\n### Rules\n- Added `c`\n" + base, release: "v0.2.0",
			rules: rules(nil, RuleVersions{ID: "c", Since: "v0.2.0"})},
		"release of another version": {changelog: "## 0.3.0 (2027-01-01)\n### Rules\n- Added `c`\n" + base, release: "v0.3.0",
			rules: rules(nil, RuleVersions{ID: "c", Since: "v0.2.0"}), want: "set NextVersion to v0.3.0 first"},
		"a release without rule changes": {changelog: "## 0.1.1 (2027-01-01)\n### Values and defaults\n- x\n" + base, release: "v0.1.1", rules: rules(nil)},
		"a released rule set a pin cannot name": {changelog: "## 0.2.0 (2027-01-01)\n### Rules\n- Added `c`\n" + base, known: []string{"v0.1.0"},
			rules: rules(nil, RuleVersions{ID: "c", Since: "v0.2.0"}), want: "policy.Versions (v0.1.0) lacks v0.2.0"},
		"NextVersion already released": {changelog: "## Unreleased\n### Rules\n- Added `d`\n## 0.2.0 (2027-01-01)\n### Rules\n- Added `c`\n" + base,
			rules: rules(nil, RuleVersions{ID: "c", Since: "v0.2.0"}, RuleVersions{ID: "d", Since: "v0.2.0"}), want: "bump NextVersion"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(c.changelog))
			if err != nil {
				t.Fatal(err)
			}
			k := known
			if c.known != nil {
				k = c.known
			}
			err = CheckVersions(s, c.rules, "v0.2.0", k, c.release)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v; want one containing %q", err, c.want)
			}
		})
	}
}
