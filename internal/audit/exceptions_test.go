package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
)

// A waived violation is a PolicyReport result "skip" that names the exception.
func TestSkippedResults(t *testing.T) {
	r := report.Result{Kind: "Pod", Namespace: "kestra", Name: "load", Waived: []exception.Waiver{{
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
	if skipped(report.Result{Kind: "Pod"}, "kestra", time.Now()) != nil {
		t.Error("a result without waivers has skip results")
	}
}

// exceptionLister serves exceptions as the API server lists them.
type exceptionLister struct {
	client.Reader
	items []unstructured.Unstructured
}

func (r exceptionLister) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	l, ok := list.(*unstructured.UnstructuredList)
	if !ok {
		return fmt.Errorf("exceptions listed as %T, want unstructured", list)
	}
	l.Items = r.items
	return nil
}

// One exception the audit cannot read is set aside, named; the one next to
// it is still read.
func TestAuditReadsExceptionsOneByOne(t *testing.T) {
	item := func(name, expires string) unstructured.Unstructured {
		return unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kestra-guard.io/v1alpha1", "kind": "PolicyException",
			"metadata": map[string]any{"namespace": "kestra", "name": name},
			"spec":     map[string]any{"rules": []any{"read-only-root-filesystem"}, "reason": "r", "expires": expires},
		}}
	}
	a := &Auditor{Reader: exceptionLister{items: []unstructured.Unstructured{item("a-typo", "2030-01-01t00:00:00z"), item("b-good", "2030-01-01T00:00:00Z")}}}
	good, bad, err := a.exceptions(context.Background(), "kestra")
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != 1 || good[0].Name != "b-good" || len(bad) != 1 || bad[0].Name != "a-typo" || !strings.Contains(bad[0].Err, "spec.expires") {
		t.Fatalf("good = %v, bad = %+v", good, bad)
	}
}
