package policy

// no-unmasked-proc forbids an unmasked /proc.
// Reads: securityContext.procMount of every init, regular and ephemeral
// container. Allowed: unset or Default, whatever spec.hostUsers says (as Pod
// Security restricted's procMount_restricted; baseline relaxes it for user
// namespaces since 1.35).

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NoUnmaskedProcID is the stable ID of no-unmasked-proc.
const NoUnmaskedProcID = "no-unmasked-proc"

var noUnmaskedProc = Rule{
	ID:      NoUnmaskedProcID,
	Since:   NextVersion,
	Summary: "procMount other than Default (an unmasked /proc)",
	Doc: RuleDoc{
		Forbids: "`procMount` other than `Default` (`Unmasked`), every container",
		Threat:  "an unmasked `/proc` exposes kernel interfaces (`/proc/sys`, `/proc/sysrq-trigger`, `/proc/kcore`) the runtime masks",
		Fix:     "remove `procMount`",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		return containerFailures(&in.Pod.Spec, "unmasked /proc is forbidden", func(c containerRef) (string, string) {
			if sc := c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
				return c.Path() + ".securityContext.procMount", "container " + strconv.Quote(c.Name) + " sets procMount " + strconv.Quote(string(*sc.ProcMount)) + "; remove it"
			}
			return "", ""
		})
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?securityContext.?procMount.orValue('Default') == 'Default'`, Field: ".securityContext.procMount",
			Message: "unmasked /proc is forbidden: remove procMount"},
	}},
}
