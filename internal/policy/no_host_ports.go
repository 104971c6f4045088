package policy

// no-host-ports forbids binding container ports on the node.
// Reads: ports[].hostPort of every container. Passes when all are unset or 0.
// Value: the host port.

import "strconv"

// NoHostPortsID is the stable ID of no-host-ports.
const NoHostPortsID = "no-host-ports"

var noHostPorts = Rule{
	ID:      NoHostPortsID,
	Since:   "v0.1.0",
	Summary: "container ports bound on the node (hostPort)",
	Doc: RuleDoc{
		Forbids: "`hostPort`",
		Threat:  "binds the node's ports",
		Fix:     "remove it",
	},
	Default:    Deny,
	FlowFields: []string{"hostPort"},
	Check: func(in *Input, _ *Options) []Violation {
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			for i, p := range c.Ports {
				if p.HostPort != 0 {
					out = append(out, Violation{Field: c.Path() + ".ports[" + strconv.Itoa(i) + "].hostPort", Reason: "host port is forbidden",
						Detail: "container " + strconv.Quote(c.Name) + " binds hostPort " + strconv.Itoa(int(p.HostPort)) + " on the node; remove hostPort", Value: strconv.Itoa(int(p.HostPort))})
				}
			}
		})
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0)`, Field: ".ports",
			Message: "host port is forbidden: the container binds a hostPort on the node; remove hostPort"},
	}},
}
