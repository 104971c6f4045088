package input

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// decodeException reads a PolicyException and checks what the CRD's schema
// would: a reason and at least one known rule, each match with exactly one
// of exact or prefix. An exception the API server would refuse is an input
// error, not a silent waiver.
func decodeException(strict func(any) error, e *v1alpha1.PolicyException) error {
	if err := strict(e); err != nil {
		return err
	}
	if e.APIVersion != v1alpha1.GroupVersion.String() {
		return fmt.Errorf("PolicyException %s: apiVersion %q: expected %s", e.Name, e.APIVersion, v1alpha1.GroupVersion)
	}
	var errs []error
	if e.Spec.Reason == "" {
		errs = append(errs, fmt.Errorf("spec.reason: required"))
	}
	if len(e.Spec.Rules) == 0 {
		errs = append(errs, fmt.Errorf("spec.rules: at least one rule ID required"))
	}
	for i, r := range e.Spec.Rules {
		if !slices.ContainsFunc(policy.Rules, func(p policy.Rule) bool { return p.ID == string(r) }) {
			errs = append(errs, fmt.Errorf("spec.rules[%d]: %q: expected a rule ID", i, r))
		}
	}
	for _, m := range []struct {
		field string
		m     *v1alpha1.StringMatch
	}{{"kestraNamespace", e.Spec.Match.KestraNamespace}, {"flowId", e.Spec.Match.FlowID}, {"taskId", e.Spec.Match.TaskID}} {
		if m.m != nil && (m.m.Exact == "") == (m.m.Prefix == "") {
			errs = append(errs, fmt.Errorf("spec.match.%s: set exactly one of exact or prefix", m.field))
		}
	}
	if errs != nil {
		return fmt.Errorf("PolicyException %s: %w", e.Name, errors.Join(errs...))
	}
	return nil
}
