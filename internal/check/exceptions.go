package check

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/input"
)

// exceptionsOf collects the PolicyExceptions among the inputs.
func exceptionsOf(objs []input.Object) []v1alpha1.PolicyException {
	var out []v1alpha1.PolicyException
	for _, o := range objs {
		if o.Exception != nil {
			out = append(out, *o.Exception)
		}
	}
	return out
}

// WithExceptions moves the violations of pod that excs waive from
// r.Violations to r.Waived, and notes every expired exception that no
// longer waives one.
func WithExceptions(r Result, excs []v1alpha1.PolicyException, pod *corev1.Pod, now time.Time) Result {
	out := exception.Apply(excs, pod, r.Violations, now)
	r.Violations, r.Waived = out.Violations, out.Waived
	for _, x := range out.Expired {
		r.Notes = append(r.Notes, x.Message())
	}
	return r
}
