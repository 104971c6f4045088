package policy

// Rule-set versions. Each rule records the version that added it (Since) and
// each later change of its meaning (Changes); CHANGELOG.md says the same in
// words, and hack/changelog's test fails when the two disagree. A namespace
// pinned to a version (policy.ruleSetVersion, or its
// kestra-guard.io/enforce-version label) is judged by the rules as they were
// at that version: rules added later do not apply, and a rule whose code
// changed later is judged by its older check (Change.Before), as Pod
// Security Admission keeps its versioned checks. Three things are never
// pinned (the security floor, docs/architecture.md and the README's rollout
// section): the 0.1.0 baseline (no version predates it, so its rules always
// apply), the rules listed in policy.unpinnedRules (start-gate by default),
// and what comes from configuration (default values, rule actions,
// mutation), which is the same for every version.

import (
	"fmt"
	"slices"
	"strings"
)

// Latest names the newest rule set, the one of this code, in configuration
// and labels.
const Latest = "latest"

// NextVersion names the rule set of this code: the rules CHANGELOG.md's
// `## Unreleased` section adds and changes carry it in Since and Changes.
// `make release` (hack/changelog) refuses to cut a version whose section
// changes rules unless it is NextVersion; after a release, keep the released
// version in Versions and add the next one before the next rule change.
const NextVersion = "v0.2.0"

// Versions are the rule-set versions a namespace may be pinned to, oldest
// first. The last one is NextVersion: pinned to it, a namespace is judged as
// latest is today, and keeps that rule set through the next upgrade.
var Versions = []string{"v0.1.0", NextVersion}

// Change is a change of a rule's meaning in a later version.
type Change struct {
	// Version is the version that made the change (the CHANGELOG.md section
	// whose Rules list says "Changed `id`").
	Version string
	// Summary says what changed, in one line.
	Summary string
	// Before builds, from the rule's current check, the check as it was
	// before Version, for a change in the rule's code: a namespace pinned to
	// an earlier version is judged by it. (It is built from the current one,
	// not written again, so that the older meaning is the newer one minus
	// what the change added, and the start gate mutation adds stays
	// accepted: mutation is not pinned.) Nil when the change is not pinned,
	// and NotPinned says why.
	Before func(now CheckFunc) CheckFunc
	// NotPinned says why the change applies at every version: a default
	// value of the configuration (a values file keeps its own), or the
	// security floor.
	NotPinned string
}

// CheckFunc is a rule's check.
type CheckFunc = func(in *Input, o *Options) []Violation

// withoutFields is a Change.Before: the current check without the
// violations at a field that holds one of parts (what the change began to
// read).
func withoutFields(parts ...string) func(CheckFunc) CheckFunc {
	return func(now CheckFunc) CheckFunc {
		return func(in *Input, o *Options) []Violation {
			vs := now(in, o)
			return slices.DeleteFunc(vs, func(v Violation) bool {
				return slices.ContainsFunc(parts, func(p string) bool { return strings.Contains(v.Field, p) })
			})
		}
	}
}

// withoutAPIAudiences is a Change.Before: the current check with no
// policy.apiAudiences, so that only a token with no audience is an API token
// (as before v0.2.0).
func withoutAPIAudiences(now CheckFunc) CheckFunc {
	return func(in *Input, o *Options) []Violation {
		older := *o
		older.APIAudiences = nil
		return now(in, &older)
	}
}

// versionIndex is v's place in Versions (Latest is the last), -1 when v is
// none of them.
func versionIndex(v string) int {
	if v == Latest {
		return len(Versions) - 1
	}
	return slices.Index(Versions, v)
}

// KnownVersion reports whether v is latest or one of Versions.
func KnownVersion(v string) bool { return versionIndex(v) >= 0 }

// AcceptedVersions lists what a pin may say, for messages.
func AcceptedVersions() string { return Latest + ", " + strings.Join(Versions, ", ") }

// checkAt is the rule's check at version index i, and whether the rule
// exists there. A rule whose Since or a change whose Version is not a known
// version applies as it is now (fail closed; a test refuses both).
func (r *Rule) checkAt(i int) (CheckFunc, bool) {
	if since := versionIndex(r.Since); since > i {
		return nil, false
	}
	check := r.Check
	for _, c := range slices.Backward(r.Changes) {
		if versionIndex(c.Version) > i && c.Before != nil {
			check = c.Before(check)
		}
	}
	return check, true
}

// versionErrors checks ruleSetVersion and unpinnedRules.
func (c Config) versionErrors(errs []error) []error {
	if c.RuleSetVersion != "" && !KnownVersion(c.RuleSetVersion) {
		errs = append(errs, fmt.Errorf("ruleSetVersion: %q: expected %s", c.RuleSetVersion, AcceptedVersions()))
	}
	for i, id := range c.UnpinnedRules {
		if _, ok := RuleByID(id); !ok {
			errs = append(errs, fmt.Errorf("unpinnedRules[%d]: %q: expected a rule ID (kestra-guard rules lists them)", i, id))
		}
	}
	return errs
}

// engines are the engines of one configuration, one per version, built
// once by NewEngine and shared by all of them.
type engines map[string]*Engine

// newEngines builds the engine of every version from the compiled options.
func newEngines(cfg Config, opts *Options) engines {
	set := engines{}
	for i, v := range append(slices.Clone(Versions), Latest) {
		if v == Latest {
			i = len(Versions) - 1
		}
		e := &Engine{opts: opts, version: v, set: set}
		for _, r := range Rules {
			check, ok := r.checkAt(i)
			if slices.Contains(cfg.UnpinnedRules, r.ID) {
				check, ok = r.Check, true
			}
			a := r.Default
			if configured, found := cfg.Rules[r.ID]; found {
				a = configured
			}
			if !ok || a == Off {
				continue
			}
			r.Check = check
			e.rules = append(e.rules, boundRule{Rule: r, action: a})
		}
		set[v] = e
	}
	return set
}

// Version is the rule set the engine judges by: latest or a version.
func (e *Engine) Version() string { return e.version }

// Pinned reports whether the engine judges by an older rule set than
// latest's.
func (e *Engine) Pinned() bool { return versionIndex(e.version) < len(Versions)-1 }

// At is the engine of the same configuration at version v (latest or one of
// Versions); false when v is neither.
func (e *Engine) At(v string) (*Engine, bool) {
	at, ok := e.set[v]
	return at, ok
}

// Latest is the engine of the same configuration at latest.
func (e *Engine) Latest() *Engine { return e.set[Latest] }

// LatestWouldDeny evaluates in with latest's rules when e is pinned and
// returns the denials latest adds to res (e's result for in): those whose
// rule and field res does not hold. Nil when e is not pinned or latest adds
// nothing.
func (e *Engine) LatestWouldDeny(in *Input, res Result) []Violation {
	if !e.Pinned() {
		return nil
	}
	return OnlyIn(e.Latest().Evaluate(in).Violations, res.Violations)
}

// OnlyIn returns the denials of latest whose rule and field pinned does not
// hold.
func OnlyIn(latest, pinned []Violation) []Violation {
	var out []Violation
	for _, v := range latest {
		if v.Action == Deny && !slices.ContainsFunc(pinned, func(p Violation) bool { return p.Rule == v.Rule && p.Field == v.Field }) {
			out = append(out, v)
		}
	}
	return out
}
