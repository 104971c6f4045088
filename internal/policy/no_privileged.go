package policy

// no-privileged forbids privileged containers.
// Reads: securityContext.privileged of every container. Passes when unset or false.

import "strconv"

// NoPrivilegedID is the stable ID of no-privileged.
const NoPrivilegedID = "no-privileged"

var noPrivileged = Rule{
	ID:      NoPrivilegedID,
	Since:   "v0.1.0",
	Summary: "privileged containers",
	Doc: RuleDoc{
		Forbids: "`privileged: true`",
		Threat:  "the node",
		Fix:     "remove it",
	},
	Default:    Deny,
	FlowFields: []string{"privileged"},
	Check: func(in *Input, _ *Options) []Violation {
		return containerFailures(&in.Pod.Spec, "privileged container is forbidden", func(c containerRef) (string, string) {
			if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
				return c.Path() + ".securityContext.privileged", "container " + strconv.Quote(c.Name) + " has privileged=true, which gives it the node; remove it"
			}
			return "", ""
		})
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?securityContext.?privileged.orValue(false) == false`, Field: ".securityContext.privileged",
			Message: "privileged container is forbidden: privileged=true gives it the node; remove it"},
	}},
}
