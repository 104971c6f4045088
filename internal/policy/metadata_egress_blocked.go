package policy

// metadata-egress-blocked demands that the Pod's namespace has NetworkPolicies
// that keep it from every metadata address: at least one policy with Egress
// selects the Pod, and no egress rule of the policies that select it allows
// any port or protocol to a configured metadata range. Reads: the Pod's
// labels, namespace and spec.hostNetwork (NetworkPolicy does not apply to host
// network Pods), and the NetworkPolicies the caller passes in.

// MetadataEgressBlockedID is the stable ID of metadata-egress-blocked.
const MetadataEgressBlockedID = "metadata-egress-blocked"

var metadataEgressBlocked = Rule{
	ID:      MetadataEgressBlockedID,
	Since:   "v0.1.0",
	Changes: []Change{{Version: NextVersion, Summary: "more default metadataCIDRs; the NAT64 images of the IPv4 ranges are metadata addresses; a rule allowing only nodeLocalDNS on port 53 reopens nothing", NotPinned: "the ranges and DNS servers are configuration (policy.metadataCIDRs, policy.nodeLocalDNS), the same for every version; the NAT64 images reach the same metadata services, so counting them keeps the rule's meaning (security floor)"}},
	Summary: "a namespace whose NetworkPolicies let the Pod reach a metadata address",
	Doc: RuleDoc{
		Forbids: "a Pod that may reach a metadata address: no egress NetworkPolicy selects it, or one that does allows any port/protocol to a configured metadata range (the message names policy and rule)",
		Threat:  "node credentials through IMDS",
		Fix:     "keep the managed policy; add the metadata ranges to the `except` of broad ipBlocks",
	},
	Default:    Deny,
	FlowFields: []string{"egress"},
	Check: func(in *Input, o *Options) []Violation {
		if in.Pod.Spec.HostNetwork {
			return []Violation{{Field: "spec.hostNetwork", Reason: "metadata egress is not blocked",
				Detail: "NetworkPolicy does not apply to host network Pods; remove hostNetwork"}}
		}
		var v EgressVerdict
		if in.NetworkPoliciesServed {
			v = analyzeEgress(in.Pod, in.NetworkPolicies, o.policyOpenings)
		} else {
			v = AnalyzeEgress(in.Pod, in.NetworkPolicies, o.Metadata, o.DNS)
		}
		if v.Selecting == 0 {
			return []Violation{{Field: "metadata.labels", Reason: "metadata egress is not blocked",
				Detail: "no NetworkPolicy with Egress in namespace " + namespaceOf(in.Pod.Namespace) + " selects the Pod, so it can reach the metadata service; install kestra-guard's managed policy or one that blocks the metadata ranges"}}
		}
		var out []Violation
		for _, op := range v.Openings {
			out = append(out, Violation{Field: "NetworkPolicy/" + op.Policy + "." + op.Field, Reason: "metadata egress is open",
				Detail: op.String() + "; add the metadata ranges to its ipBlock.except or narrow the rule"})
		}
		return out
	},
	// In-tree, the managed NetworkPolicy of the Pod's namespace is the
	// param (parameterNotFoundAction: Deny): it must exist, have Egress and
	// select the Pod. Whether another policy reopens a metadata range needs
	// every policy of the namespace, which CEL cannot list.
	InTree: &InTree{Param: true, Checks: []CELCheck{
		{Expr: `object.spec.?hostNetwork.orValue(false) == false`, Field: "spec.hostNetwork",
			Message: "metadata egress is not blocked: NetworkPolicy does not apply to host network Pods; remove hostNetwork"},
		{Expr: `'Egress' in params.spec.?policyTypes.orValue([])`, Field: "metadata.labels",
			Message: "metadata egress is not blocked: the managed NetworkPolicy kestra-guard-block-metadata has no Egress policy type; let kestra-guard repair it"},
		{Expr: `params.spec.?podSelector.?matchLabels.orValue({}).all(k, k in object.metadata.?labels.orValue({}) && object.metadata.labels[k] == params.spec.podSelector.matchLabels[k]) &&
			params.spec.?podSelector.?matchExpressions.orValue([]).all(e,
				e.operator == 'Exists' ? e.key in object.metadata.?labels.orValue({}) :
				e.operator == 'DoesNotExist' ? !(e.key in object.metadata.?labels.orValue({})) :
				e.operator == 'In' ? (e.key in object.metadata.?labels.orValue({}) && object.metadata.labels[e.key] in e.?values.orValue([])) :
				!(e.key in object.metadata.?labels.orValue({})) || !(object.metadata.labels[e.key] in e.?values.orValue([])))`, Field: "metadata.labels",
			Message: "metadata egress is not blocked: the managed NetworkPolicy kestra-guard-block-metadata does not select the Pod; keep the task-runner label or let kestra-guard repair the policy"},
	}, WebhookOnly: "other NetworkPolicies that reopen a metadata range, and the managed policy's own egress rules (its NetworkPolicy webhook keeps them), are checked by the webhook only; a namespace without the managed policy refuses every task runner until kestra-guard creates it (runner namespaces get it from the controller, others at their first Pod admitted by the webhook)"},
}
