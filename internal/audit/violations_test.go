package audit

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The violations gauge holds a series per rule and namespace with
// violations: a namespace's counts replace its old ones, a clean namespace
// and one no longer judged have none. Its name, help and labels are what
// alerts and dashboards read.
func TestViolationsGauge(t *testing.T) {
	v := NewViolationsGauge()
	const head = `# HELP kestra_guard_audit_violations Violations found by the last background audit, by rule and namespace.
# TYPE kestra_guard_audit_violations gauge
`
	v.set("a", map[string]int{"no-host-network": 1, "read-only-root-filesystem": 3})
	v.set("b", map[string]int{"no-host-path": 2})
	v.set("c", map[string]int{"no-host-path": 1})
	v.set("a", map[string]int{"read-only-root-filesystem": 2}) // the next pass
	v.set("b", nil)                                            // clean now
	if err := testutil.CollectAndCompare(v, strings.NewReader(head+`kestra_guard_audit_violations{namespace="a",rule="read-only-root-filesystem"} 2
kestra_guard_audit_violations{namespace="c",rule="no-host-path"} 1
`)); err != nil {
		t.Error(err)
	}
	v.retain(map[string]bool{"a": true}) // c was not judged in the pass
	if err := testutil.CollectAndCompare(v, strings.NewReader(head+`kestra_guard_audit_violations{namespace="a",rule="read-only-root-filesystem"} 2
`)); err != nil {
		t.Errorf("after the pass: %v", err)
	}
}
