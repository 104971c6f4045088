package policy

// no-privilege-escalation forbids gaining privileges through setuid binaries.
// Reads: securityContext.allowPrivilegeEscalation of every container.
// Passes when it is false (unset means allowed, as in the kubelet).

import "strconv"

// NoPrivilegeEscalationID is the stable ID of no-privilege-escalation.
const NoPrivilegeEscalationID = "no-privilege-escalation"

var noPrivilegeEscalation = Rule{
	ID:      NoPrivilegeEscalationID,
	Since:   "v0.1.0",
	Summary: "allowPrivilegeEscalation unset or true",
	Doc: RuleDoc{
		Forbids: "`allowPrivilegeEscalation` not false",
		Threat:  "setuid escalation",
		Fix:     "set false (mutation does)",
	},
	Default:    Deny,
	FlowFields: []string{"allowPrivilegeEscalation"},
	Check: func(in *Input, _ *Options) []Violation {
		return containerFailures(&in.Pod.Spec, "privilege escalation is allowed", func(c containerRef) (string, string) {
			sc := c.SecurityContext
			switch {
			case sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation:
				return "", ""
			case sc != nil && sc.AllowPrivilegeEscalation != nil:
				return c.Path() + ".securityContext.allowPrivilegeEscalation", "container " + strconv.Quote(c.Name) + " has allowPrivilegeEscalation=true; set it to false"
			case in.Fragment:
				return "", ""
			}
			return c.Path() + ".securityContext.allowPrivilegeEscalation", "container " + strconv.Quote(c.Name) + " does not set allowPrivilegeEscalation; set it to false"
		})
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false`, Field: ".securityContext.allowPrivilegeEscalation",
			Message: "privilege escalation is allowed: set allowPrivilegeEscalation to false"},
	}},
}
