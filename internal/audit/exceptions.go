package audit

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/report"
)

// nsExceptions are the PolicyExceptions of one namespace.
type nsExceptions struct {
	good []v1alpha1.PolicyException
	bad  []exception.Unreadable
}

// exceptionIndex lists the cluster's PolicyExceptions once, by namespace:
// there are few, and one list serves every namespace of a pass.
func (a *Auditor) exceptionIndex(ctx context.Context) (map[string]nsExceptions, error) {
	good, bad, err := a.exceptions(ctx, "")
	if err != nil {
		return nil, err
	}
	// The cache lists in no fixed order: by name, as the API server does.
	slices.SortFunc(good, func(a, b v1alpha1.PolicyException) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	out := map[string]nsExceptions{}
	for _, e := range good {
		n := out[e.Namespace]
		n.good = append(n.good, e)
		out[e.Namespace] = n
	}
	for _, u := range bad {
		n := out[u.Namespace]
		n.bad = append(n.bad, u)
		out[u.Namespace] = n
	}
	return out, nil
}

// exceptions lists the PolicyExceptions of ns (every namespace when
// empty); none when their CRD is not installed. They are listed
// unstructured and converted one by one: one that cannot be read is
// returned in bad (it waives nothing) and the others still apply.
func (a *Auditor) exceptions(ctx context.Context, ns string) (good []v1alpha1.PolicyException, bad []exception.Unreadable, err error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("PolicyExceptionList"))
	if err := a.list(ctx, true, list, "policyexceptions", ns); err != nil {
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
// waives (by namespace audited) and the exceptions that have expired.
func (b *Background) exceptionGauges(waived map[string]map[[2]string]int) {
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
	for _, refs := range waived {
		for ref, n := range refs {
			b.ExceptionsInUse.WithLabelValues(ref[0], ref[1]).Add(float64(n))
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
