package scope

import (
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// GuardedNamespace is the one definition of a namespace whose NetworkPolicies
// kestra-guard checks for metadata egress: a runner namespace, one that holds
// the managed policy (a task runner was admitted there in enforce mode), or
// one known to run task runners. At admission the NetworkPolicy webhook
// knows the first two (it does not list Pods); audit knows all three.
func (s *Scope) GuardedNamespace(name string, labels map[string]string, holdsManagedPolicy, runsTaskRunners bool) bool {
	return s.RunnerNamespace(name, labels) || holdsManagedPolicy || runsTaskRunners
}

// MetadataReopenings are the egress rules of np, a NetworkPolicy of a guarded
// namespace, that let task runners reach a metadata address: nil when none
// does, or when np's podSelector can never select a task runner (in a runner
// namespace every Pod is one, so it always can).
func (s *Scope) MetadataReopenings(np *networkingv1.NetworkPolicy, runnerNamespace bool, o *policy.Options) []policy.Opening {
	if !runnerNamespace && s.ExcludesTaskRunners(np.Spec.PodSelector) {
		return nil
	}
	return policy.PolicyOpenings(np, o.Metadata, o.DNS)
}

// ReopeningViolations is the finding "a NetworkPolicy reopens metadata
// egress": one violation of metadata-egress-blocked per opening.
func ReopeningViolations(openings []policy.Opening, action policy.Action) []policy.Violation {
	var vs []policy.Violation
	for _, op := range openings {
		vs = append(vs, policy.Violation{Rule: policy.MetadataEgressBlockedID, Field: op.Field, Action: action,
			Reason: "NetworkPolicy reopens metadata egress", Detail: op.String() + " in a namespace that runs Kestra tasks"})
	}
	return vs
}
