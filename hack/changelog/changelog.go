// Command changelog checks CHANGELOG.md against the rules kestra-guard
// ships (policy.Rules): every rule is added by one section, no section adds
// or changes a rule that does not exist, and with -release VERSION the
// newest section is that version. The rules' versions agree with it too: a
// rule's Since is the version of the section that adds it, its Changes are
// the sections that say it changed (Unreleased is policy.NextVersion), and a
// release that changes rules is NextVersion. `make release` runs it first.
//
// Format: `## <version> (<date>)` or `## Unreleased`, newest first; in each,
// a `### Rules` list whose items start `- Added `+"`id`"+`, `- Changed `+"`id`"+`
// or `- Removed `+"`id`"+`, one rule per item.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// Section is one release of the changelog.
type Section struct {
	// Title is the version ("0.2.0") or "Unreleased".
	Title string
	Line  int
	// Changes are the rule changes, in order.
	Changes []Change
}

// Change is one item of a section's Rules list.
type Change struct {
	Verb string // Added, Changed or Removed
	Rule string
	Line int
}

var (
	sectionRE = regexp.MustCompile(`^## \[?v?([^\]\s]+)\]?`)
	changeRE  = regexp.MustCompile("^- (Added|Changed|Removed) `([a-z0-9-]+)`")
)

// Parse reads the sections of a changelog, newest first.
func Parse(r io.Reader) ([]Section, error) {
	var out []Section
	sub := ""
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			m := sectionRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: %q: expected `## <version> (<date>)` or `## Unreleased`", n, line)
			}
			out = append(out, Section{Title: m[1], Line: n})
			sub = ""
		case strings.HasPrefix(line, "### "):
			sub = strings.TrimSpace(strings.TrimPrefix(line, "### "))
		case sub == "Rules" && strings.HasPrefix(line, "- ") && len(out) > 0:
			m := changeRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: %q: a Rules item starts with Added, Changed or Removed and one rule ID in backquotes", n, line)
			}
			s := &out[len(out)-1]
			s.Changes = append(s.Changes, Change{Verb: m[1], Rule: m[2], Line: n})
		}
	}
	return out, sc.Err()
}

// Check returns every way the sections disagree with the rules shipped,
// and, when release is set, with cutting that version.
func Check(sections []Section, rules []string, release string) error {
	var errs []error
	if release != "" {
		release = strings.TrimPrefix(release, "v")
		switch {
		case len(sections) == 0:
			errs = append(errs, fmt.Errorf("CHANGELOG.md has no section; releasing %s needs `## %s (<date>)` first", release, release))
		case sections[0].Title != release:
			errs = append(errs, fmt.Errorf("line %d: the newest section is %q; releasing %s needs it titled `## %s (<date>)` (rename Unreleased)", sections[0].Line, sections[0].Title, release, release))
		}
		for _, s := range sections[1:] {
			if s.Title == release {
				errs = append(errs, fmt.Errorf("line %d: %s is already released", s.Line, release))
			}
		}
	}
	have := map[string]int{} // rule -> line of the change that added it
	for i := len(sections) - 1; i >= 0; i-- {
		for _, c := range sections[i].Changes {
			_, exists := have[c.Rule]
			switch {
			case c.Verb == "Added" && exists:
				errs = append(errs, fmt.Errorf("line %d: %s is added again (first at line %d)", c.Line, c.Rule, have[c.Rule]))
			case c.Verb == "Added":
				have[c.Rule] = c.Line
			case !exists:
				errs = append(errs, fmt.Errorf("line %d: %s %s, which no earlier section adds", c.Line, strings.ToLower(c.Verb), c.Rule))
			case c.Verb == "Removed":
				delete(have, c.Rule)
			}
		}
	}
	for _, id := range rules {
		if _, ok := have[id]; !ok {
			errs = append(errs, fmt.Errorf("rule %s is in policy.Rules but no section of CHANGELOG.md adds it: add \"- Added `%s`: ...\" under ### Rules of the newest section", id, id))
		}
		delete(have, id)
	}
	left := make([]string, 0, len(have))
	for id := range have {
		left = append(left, id)
	}
	slices.Sort(left)
	for _, id := range left {
		errs = append(errs, fmt.Errorf("line %d: rule %s is added but not in policy.Rules: say \"- Removed `%s`\" in the section that removes it", have[id], id, id))
	}
	return errors.Join(errs...)
}

// RuleVersions is what a rule records of its versions (policy.Rule's Since
// and the Version of each of its Changes).
type RuleVersions struct {
	ID, Since string
	Changed   []string
}

// CheckVersions returns every way the rules' versions disagree with the
// sections: Unreleased is next (policy.NextVersion), a released section
// "0.1.0" is v0.1.0. known are the versions a namespace may be pinned to
// (policy.Versions); release is the version being cut, or "".
func CheckVersions(sections []Section, rules []RuleVersions, next string, known []string, release string) error {
	var errs []error
	byID := map[string]RuleVersions{}
	for _, r := range rules {
		byID[r.ID] = r
	}
	changedIn := map[string][]string{} // rule -> versions whose section says it changed
	for _, s := range sections {
		v := sectionVersion(s, next)
		if s.Title != "Unreleased" && len(s.Changes) > 0 {
			if !slices.Contains(known, v) {
				errs = append(errs, fmt.Errorf("line %d: %s changes rules, but policy.Versions (%s) lacks %s: a namespace could not be pinned to it", s.Line, s.Title, strings.Join(known, ", "), v))
			}
			if v == next && len(sections) > 0 && sections[0].Title == "Unreleased" && len(sections[0].Changes) > 0 {
				errs = append(errs, fmt.Errorf("line %d: %s is released, and Unreleased (line %d) changes rules under the same name policy.NextVersion=%s: bump NextVersion (and the Since and Changes of the rules Unreleased lists)", s.Line, s.Title, sections[0].Line, next))
			}
		}
		for _, c := range s.Changes {
			r, ok := byID[c.Rule]
			switch {
			case !ok:
			case c.Verb == "Added" && r.Since != v:
				errs = append(errs, fmt.Errorf("line %d: %s is added in %s, but its Since says %q: set Since: %q in its rule (internal/policy)", c.Line, c.Rule, v, r.Since, v))
			case c.Verb == "Changed":
				changedIn[c.Rule] = append(changedIn[c.Rule], v)
				if !slices.Contains(r.Changed, v) {
					errs = append(errs, fmt.Errorf("line %d: %s changed in %s, but its Changes record no change in %s: add a Change{Version: %q, ...} to its rule, with Before (the older check) or NotPinned", c.Line, c.Rule, v, v, v))
				}
			}
		}
	}
	for _, r := range rules {
		for _, v := range r.Changed {
			if !slices.Contains(changedIn[r.ID], v) {
				errs = append(errs, fmt.Errorf("rule %s records a change in %s (Changes), which CHANGELOG.md does not list: add \"- Changed `%s`: ...\" under ### Rules of that version's section", r.ID, v, r.ID))
			}
		}
	}
	if release != "" && len(sections) > 0 && len(sections[0].Changes) > 0 {
		if v := "v" + strings.TrimPrefix(release, "v"); v != next {
			errs = append(errs, fmt.Errorf("releasing %s, whose section changes rules, but the rules name those changes policy.NextVersion=%s: set NextVersion to %s first", v, next, v))
		}
	}
	return errors.Join(errs...)
}

// sectionVersion is the rule-set version a section stands for.
func sectionVersion(s Section, next string) string {
	if s.Title == "Unreleased" {
		return next
	}
	return "v" + s.Title
}

// Versions are the versions policy.Rules records.
func Versions() []RuleVersions {
	out := make([]RuleVersions, len(policy.Rules))
	for i, r := range policy.Rules {
		out[i] = RuleVersions{ID: r.ID, Since: r.Since}
		for _, c := range r.Changes {
			out[i].Changed = append(out[i].Changed, c.Version)
		}
	}
	return out
}

// RuleIDs are the IDs of the rules kestra-guard ships.
func RuleIDs() []string {
	ids := make([]string, len(policy.Rules))
	for i, r := range policy.Rules {
		ids[i] = r.ID
	}
	return ids
}

func main() {
	release := flag.String("release", "", "the version being cut (v0.2.0): the newest section must be it")
	flag.Parse()
	path := filepath.Join(framework.RepoRoot(), "CHANGELOG.md")
	if err := run(path, *release); err != nil {
		fmt.Fprintln(os.Stderr, "changelog:", err)
		os.Exit(1)
	}
}

func run(path, release string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sections, err := Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	err = errors.Join(Check(sections, RuleIDs(), release), CheckVersions(sections, Versions(), policy.NextVersion, policy.Versions, release))
	if err != nil {
		return fmt.Errorf("%s:\n%w", path, err)
	}
	return nil
}
