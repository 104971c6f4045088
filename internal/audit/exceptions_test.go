package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/kestra-guard/kestra-guard/internal/check"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// A waived violation is a PolicyReport result "skip" that names the exception.
func TestSkippedResults(t *testing.T) {
	r := check.Result{Kind: "Pod", Namespace: "kestra", Name: "load", Waived: []exception.Waiver{{
		Violation: policy.Violation{Rule: "read-only-root-filesystem", Field: "spec.containers[0].securityContext.readOnlyRootFilesystem", Reason: "root filesystem is writable"},
		Exception: exception.Ref{Namespace: "kestra", Name: "pip", Reason: "pip at run time", Owner: "team-data"},
	}}}
	got := skipped(r, "kestra", time.Unix(0, 0))
	if len(got) != 1 {
		t.Fatalf("results = %v, want one", got)
	}
	m := got[0].(map[string]any)
	if m["result"] != "skip" || m["rule"] != "read-only-root-filesystem" || m["properties"].(map[string]any)["exception"] != "kestra/pip" {
		t.Errorf("result = %v", m)
	}
	if msg := m["message"].(string); !strings.Contains(msg, `waived by PolicyException kestra/pip (reason: "pip at run time", owner: "team-data")`) {
		t.Errorf("message = %q", msg)
	}
	if skipped(check.Result{Kind: "Pod"}, "kestra", time.Now()) != nil {
		t.Error("a result without waivers has skip results")
	}
}
