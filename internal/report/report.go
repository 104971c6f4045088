// Package report holds what `check` and `audit` decided and every way it
// is written: the result types, and the text, JSON, SARIF and JUnit
// outputs.
package report

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Result is the decision for one object.
type Result struct {
	File string `json:"file,omitempty"`
	// Line is the line the object's document starts on (0 when unknown).
	Line       int                `json:"line,omitempty"`
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Allowed    bool               `json:"allowed"`
	Violations []policy.Violation `json:"violations"`
	// Lines are the lines of the violations' fields in File, in the order
	// of Violations: the field's own line where it is written, else its
	// nearest written ancestor's, else the document's.
	Lines []int `json:"lines,omitempty"`
	// Mutations are what the mutating webhook would set before the rules
	// run ("field=value"), reported apart from the violations.
	Mutations []string `json:"mutations,omitempty"`
	// Waived are violations a PolicyException waived.
	Waived []exception.Waiver `json:"waived,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
	// RulesVersion is the rule-set version the object was judged by, when
	// older than latest (a pinned namespace, check --rules-version), and
	// LatestWouldDeny the denials latest adds: what moving to latest would
	// refuse. They do not change Allowed.
	RulesVersion    string             `json:"rulesVersion,omitempty"`
	LatestWouldDeny []policy.Violation `json:"latestWouldDeny,omitempty"`
	// LatestLines are the lines of LatestWouldDeny's fields, as Lines.
	LatestLines []int `json:"-"`
}

// Skipped is an object check did not evaluate, and why.
type Skipped struct {
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

// Pinned records, when e judges by an older rule set than latest, its
// version and the denials latest adds (e.LatestWouldDeny).
func Pinned(r Result, e *policy.Engine, latestWouldDeny []policy.Violation) Result {
	if e.Pinned() {
		r.RulesVersion, r.LatestWouldDeny = e.Version(), latestWouldDeny
	}
	return r
}

// LatestLineOf is the line of the i-th LatestWouldDeny, else of the object.
func (r Result) LatestLineOf(i int) int {
	if i < len(r.LatestLines) && r.LatestLines[i] > 0 {
		return r.LatestLines[i]
	}
	return r.Line
}

// LineOf is the line of the i-th violation, else of the object.
func (r Result) LineOf(i int) int {
	if i < len(r.Lines) && r.Lines[i] > 0 {
		return r.Lines[i]
	}
	return r.Line
}

// Finish decides Allowed from the violations (all turned into warnings in
// audit) and makes an empty list explicit for JSON output.
func Finish(r Result, audit bool) Result {
	if audit {
		for i := range r.Violations {
			r.Violations[i].Action = policy.Warn
		}
	}
	r.Allowed = !(policy.Result{Violations: r.Violations}).Denied()
	if r.Violations == nil {
		r.Violations = []policy.Violation{}
	}
	return r
}

// WithExceptions moves the violations of pod that excs waive from
// r.Violations to r.Waived, and notes every exception that did not waive
// what it would have: expired, or naming match.requestedBy. There is no
// admission request here (check, the audit), so an exception that trusts
// only some requesters waives nothing: offline nobody can tell who will
// create the Pod, and an audit cannot tell who created it (a Pod records
// no creator that its creator could not write), so a waiver here could
// clear a Pod that admission would refuse.
func WithExceptions(r Result, excs []v1alpha1.PolicyException, pod *corev1.Pod, now time.Time) Result {
	out := exception.Apply(excs, pod, r.Violations, now, nil)
	r.Violations, r.Waived = out.Violations, out.Waived
	r.Notes = append(r.Notes, out.Notes()...)
	return r
}

// Report is everything one `check` run found: the decisions, the objects
// skipped and the inputs that could not be read.
type Report struct {
	Results []Result
	Skipped []Skipped
	Errors  []error
}

// Summary counts a Report for the closing line.
type Summary struct {
	Objects    int `json:"objects"`
	Allowed    int `json:"allowed"`
	Denied     int `json:"denied"`
	Skipped    int `json:"skipped"`
	Unreadable int `json:"unreadable"`
}

// Summary counts the objects of r: every result is allowed or denied.
func (r Report) Summary() Summary {
	s := Summary{Skipped: len(r.Skipped), Unreadable: len(r.Errors)}
	for _, res := range r.Results {
		if res.Allowed {
			s.Allowed++
		} else {
			s.Denied++
		}
	}
	s.Objects = s.Allowed + s.Denied + s.Skipped
	return s
}

// String is the closing line of the text output.
func (s Summary) String() string {
	line := fmt.Sprintf("%d objects: %d allowed, %d denied, %d skipped", s.Objects, s.Allowed, s.Denied, s.Skipped)
	if s.Unreadable > 0 {
		line += fmt.Sprintf("; %d inputs cannot be read", s.Unreadable)
	}
	return line
}

// AllAllowed says whether no object would be denied.
func (s Summary) AllAllowed() bool { return s.Denied == 0 }

// Empty says whether there is nothing to summarise.
func (s Summary) Empty() bool { return s.Objects == 0 && s.Unreadable == 0 }
