package audit

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/report"
)

// exceptions lists the PolicyExceptions of ns; none when their CRD is not
// installed. They are listed unstructured and converted one by one: one
// that cannot be read is returned in bad (it waives nothing) and the
// others still apply.
func (a *Auditor) exceptions(ctx context.Context, ns string) (good []v1alpha1.PolicyException, bad []exception.Unreadable, err error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("PolicyExceptionList"))
	if err := a.list(ctx, list, "policyexceptions", ns); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	good, bad = exception.FromList(list.Items)
	a.seen = append(a.seen, good...)
	return good, bad, nil
}

// exceptionGauges sets, from one audit, the violations each exception
// waives and the exceptions that have expired.
func (b *Background) exceptionGauges(results []report.Result) {
	if b.ExceptionsInUse == nil || b.ExceptionsExpired == nil {
		return
	}
	b.ExceptionsInUse.Reset()
	b.ExceptionsExpired.Reset()
	for _, e := range b.Auditor.seen {
		b.ExceptionsInUse.WithLabelValues(e.Namespace, e.Name).Set(0)
		if exception.IsExpired(&e, time.Now()) {
			b.ExceptionsExpired.WithLabelValues(e.Namespace, e.Name).Set(1)
		}
	}
	for _, r := range results {
		for _, w := range r.Waived {
			b.ExceptionsInUse.WithLabelValues(w.Exception.Namespace, w.Exception.Name).Inc()
		}
	}
}

// skipped are the PolicyReport results for waived violations: "skip",
// naming the exception.
func skipped(r report.Result, ns string, now time.Time) []any {
	var out []any
	for _, w := range r.Waived {
		out = append(out, map[string]any{
			"source": "kestra-guard", "policy": "kestra-guard", "rule": w.Rule, "result": "skip",
			"severity": "high", "message": w.Field + ": " + w.Reason + ": waived by " + w.Exception.Describe(),
			"properties": map[string]any{"exception": w.Exception.String()},
			"timestamp":  map[string]any{"seconds": now.Unix(), "nanos": 0},
			"resources":  []any{map[string]any{"apiVersion": apiVersion(r.Kind), "kind": r.Kind, "namespace": ns, "name": r.Name}},
		})
	}
	return out
}
