package policy

// no-host-network forbids sharing the node's network namespace, which also
// puts the Pod outside every NetworkPolicy. Reads: spec.hostNetwork.
// Passes when it is unset or false.

// NoHostNetworkID is the stable ID of no-host-network.
const NoHostNetworkID = "no-host-network"

var noHostNetwork = Rule{
	ID:      NoHostNetworkID,
	Since:   "v0.1.0",
	Summary: "sharing the node's network namespace (hostNetwork), which bypasses NetworkPolicy",
	Doc: RuleDoc{
		Forbids: "`hostNetwork: true`",
		Threat:  "the node's network, outside every NetworkPolicy",
		Fix:     "remove it",
	},
	Default:    Deny,
	FlowFields: []string{"hostNetwork"},
	Check: func(in *Input, _ *Options) []Violation {
		if !in.Pod.Spec.HostNetwork {
			return nil
		}
		return []Violation{{Field: "spec.hostNetwork", Reason: "host network is forbidden",
			Detail: "hostNetwork=true shares the node's network and escapes NetworkPolicy, so the metadata service is reachable; remove hostNetwork"}}
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?hostNetwork.orValue(false) == false`, Field: "spec.hostNetwork",
			Message: "host network is forbidden: hostNetwork=true shares the node's network and escapes NetworkPolicy, so the metadata service is reachable; remove hostNetwork"},
	}},
}
