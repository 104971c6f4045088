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
