package policy

// no-host-namespaces forbids sharing the node's PID or IPC namespace.
// Reads: spec.hostPID, spec.hostIPC. Passes when both are unset or false.

// NoHostNamespacesID is the stable ID of no-host-namespaces.
const NoHostNamespacesID = "no-host-namespaces"

var noHostNamespaces = Rule{
	ID:      NoHostNamespacesID,
	Since:   "v0.1.0",
	Summary: "sharing the node's PID or IPC namespace",
	Doc: RuleDoc{
		Forbids: "`hostPID`, `hostIPC`",
		Threat:  "see and signal node processes",
		Fix:     "remove them",
	},
	Default:    Deny,
	FlowFields: []string{"hostPID", "hostIPC"},
	Check: func(in *Input, _ *Options) []Violation {
		var out []Violation
		if in.Pod.Spec.HostPID {
			out = append(out, Violation{Field: "spec.hostPID", Reason: "host PID namespace is forbidden",
				Detail: "hostPID=true lets the Pod see and signal every process on the node; remove hostPID"})
		}
		if in.Pod.Spec.HostIPC {
			out = append(out, Violation{Field: "spec.hostIPC", Reason: "host IPC namespace is forbidden",
				Detail: "hostIPC=true shares the node's shared memory; remove hostIPC"})
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?hostPID.orValue(false) == false`, Field: "spec.hostPID",
			Message: "host PID namespace is forbidden: hostPID=true lets the Pod see and signal every process on the node; remove hostPID"},
		{Expr: `object.spec.?hostIPC.orValue(false) == false`, Field: "spec.hostIPC",
			Message: "host IPC namespace is forbidden: hostIPC=true shares the node's shared memory; remove hostIPC"},
	}},
}
