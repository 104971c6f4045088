package check

import (
	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
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
