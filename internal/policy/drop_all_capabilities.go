package policy

// drop-all-capabilities demands that every container drops ALL Linux
// capabilities and adds back none but NET_BIND_SERVICE (as Pod Security
// "restricted"). Reads: securityContext.capabilities.{drop,add}. One
// violation per capability added (Value: the capability as written), and
// one for a missing drop of ALL (no value).

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// DropAllCapabilitiesID is the stable ID of drop-all-capabilities.
const DropAllCapabilitiesID = "drop-all-capabilities"

var dropAllCapabilities = Rule{
	ID:      DropAllCapabilitiesID,
	Since:   "v0.1.0",
	Summary: "containers that do not drop ALL capabilities, or add any but NET_BIND_SERVICE",
	Doc: RuleDoc{
		Forbids: "not dropping `ALL`, or adding anything but `NET_BIND_SERVICE`",
		Threat:  "kernel attack surface",
		Fix:     "`capabilities: {drop: [ALL]}` (mutation does)",
	},
	Default:    Deny,
	FlowFields: []string{"capabilities"},
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "capabilities are not dropped"
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			var caps *corev1.Capabilities
			if c.SecurityContext != nil {
				caps = c.SecurityContext.Capabilities
			}
			if caps != nil {
				// One violation per capability added: a PolicyException that
				// waives one by value must not hide the next.
				for i, a := range caps.Add {
					if a != "NET_BIND_SERVICE" {
						out = append(out, Violation{Field: c.Path() + ".securityContext.capabilities.add[" + strconv.Itoa(i) + "]", Reason: reason, Value: string(a),
							Detail: "container " + strconv.Quote(c.Name) + " adds capability " + string(a) + "; only NET_BIND_SERVICE may be added"})
					}
				}
			}
			if in.Fragment || (caps != nil && slices.Contains(caps.Drop, "ALL")) {
				return
			}
			out = append(out, Violation{Field: c.Path() + ".securityContext.capabilities.drop", Reason: reason,
				Detail: "container " + strconv.Quote(c.Name) + " does not drop ALL capabilities; set capabilities.drop: [ALL]"})
		})
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?securityContext.?capabilities.?add.orValue([]).all(a, a == 'NET_BIND_SERVICE')`, Field: ".securityContext.capabilities.add",
			Message: "capabilities are not dropped: only NET_BIND_SERVICE may be added"},
		{Each: EachContainer, Expr: `'ALL' in c.?securityContext.?capabilities.?drop.orValue([])`, Field: ".securityContext.capabilities.drop",
			Message: "capabilities are not dropped: set capabilities.drop: [ALL]"},
	}},
}
