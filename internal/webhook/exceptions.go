package webhook

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// WaivedAnnotation is the audit annotation key listing waived violations.
const WaivedAnnotation = "waived"

// exceptions applies the PolicyExceptions of the Pod's namespace, read from
// g.Exceptions (the informer cache). A Pod without violations reads nothing.
// When they cannot be read, nothing is waived: the decision is the one
// without exceptions.
func (g *Guard) exceptions(ctx context.Context, pod *corev1.Pod, vs []policy.Violation) exception.Outcome {
	if g.Exceptions == nil || len(vs) == 0 {
		return exception.Outcome{Violations: vs}
	}
	var list v1alpha1.PolicyExceptionList
	if err := g.Exceptions.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		if !meta.IsNoMatchError(err) { // no CRD installed: no exception
			g.Log.Error(err, "reading PolicyExceptions; none applied", "namespace", pod.Namespace)
		}
		return exception.Outcome{Violations: vs}
	}
	out := exception.Apply(list.Items, pod, vs, time.Now())
	g.ExceptionMetrics.Record(out)
	return out
}

// exceptionWarnings name every exception that waived or no longer waives
// something, with its reason and owner.
func exceptionWarnings(o exception.Outcome) []string {
	var ws []string
	for _, s := range o.Summary() {
		ws = append(ws, "kestra-guard: "+strings.Join(s.Rules, ", ")+" waived by "+s.Exception.Describe())
	}
	for _, x := range o.Expired {
		ws = append(ws, "kestra-guard: "+x.Message())
	}
	return ws
}

func waivedAnnotation(o exception.Outcome) string {
	parts := make([]string, len(o.Waived))
	for i, w := range o.Waived {
		parts[i] = w.Rule + "@" + w.Field + " by " + w.Exception.String()
	}
	return strings.Join(parts, ",")
}
