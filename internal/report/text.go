package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JSON writes r as one indented JSON document: the results (an empty list
// when there are none), the summary, and the skipped objects and the
// inputs that cannot be read when r holds them.
func JSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	doc := map[string]any{"results": results, "summary": r.Summary()}
	if r.Skipped != nil {
		doc["skipped"] = r.Skipped
	}
	if r.Errors != nil {
		msgs := make([]string, len(r.Errors))
		for i, e := range r.Errors {
			msgs[i] = e.Error()
		}
		doc["errors"] = msgs
	}
	return enc.Encode(doc)
}

// Text writes rep a line per finding, each led by "file:line: Kind
// namespace/name": the skipped objects, then for each result what mutation
// would set, its violations, what was waived, its notes and what latest
// would deny (a pinned rule set), then the
// summary line (none when there is nothing to count).
func Text(w io.Writer, rep Report) error {
	var b strings.Builder
	name := func(file string, line int, kind, ns, name string) string {
		prefix := kind + " " + ns + "/" + name
		if kind == "" {
			prefix = "document"
		}
		switch {
		case file != "" && line > 0:
			prefix = file + ":" + strconv.Itoa(line) + ": " + prefix
		case file != "":
			prefix = file + ": " + prefix
		}
		return prefix
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&b, "%s: skipped: %s\n", name(sk.File, sk.Line, sk.Kind, sk.Namespace, sk.Name), sk.Reason)
	}
	for _, r := range rep.Results {
		prefix := name(r.File, r.Line, r.Kind, r.Namespace, r.Name)
		for _, m := range r.Mutations {
			fmt.Fprintf(&b, "%s: would set %s\n", prefix, m)
		}
		for i, v := range r.Violations {
			fmt.Fprintf(&b, "%s: %s: %s: %s (%s: %s)\n", name(r.File, r.LineOf(i), r.Kind, r.Namespace, r.Name), v.Rule, v.Field, v.Reason, v.Action, v.Detail)
		}
		for _, w := range r.Waived {
			fmt.Fprintf(&b, "%s: %s: %s: waived by %s\n", prefix, w.Rule, w.Field, w.Exception.Describe())
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "%s: note: %s\n", prefix, n)
		}
		for i, v := range r.LatestWouldDeny {
			fmt.Fprintf(&b, "%s: latest would deny (judged by the rules of %s): %s: %s: %s (%s)\n",
				name(r.File, r.LatestLineOf(i), r.Kind, r.Namespace, r.Name), r.RulesVersion, v.Rule, v.Field, v.Reason, v.Detail)
		}
	}
	if sum := rep.Summary(); !sum.Empty() {
		b.WriteString(sum.String() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
