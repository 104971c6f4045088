package policy

// no-host-process forbids Windows HostProcess containers.
// Reads: spec.securityContext.windowsOptions.hostProcess and the same field
// of every init, regular and ephemeral container. Passes when all are unset
// or false (as Pod Security baseline's windowsHostProcess).

import "strconv"

// NoHostProcessID is the stable ID of no-host-process.
const NoHostProcessID = "no-host-process"

var noHostProcess = Rule{
	ID:      NoHostProcessID,
	Since:   NextVersion,
	Summary: "Windows HostProcess containers",
	Doc: RuleDoc{
		Forbids: "`windowsOptions.hostProcess: true`, at Pod or container level",
		Threat:  "a HostProcess container is a process on the Windows node, with its network and files",
		Fix:     "remove it",
	},
	Default:    Deny,
	FlowFields: []string{"hostProcess"},
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "Windows HostProcess container is forbidden"
		var out []Violation
		if sc := in.Pod.Spec.SecurityContext; sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
			out = append(out, Violation{Field: "spec.securityContext.windowsOptions.hostProcess", Reason: reason,
				Detail: "the Pod sets windowsOptions.hostProcess=true, which runs every container on the node; remove it"})
		}
		return append(out, containerFailures(&in.Pod.Spec, reason, func(c containerRef) (string, string) {
			if sc := c.SecurityContext; sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
				return c.Path() + ".securityContext.windowsOptions.hostProcess", "container " + strconv.Quote(c.Name) + " sets windowsOptions.hostProcess=true, which runs it on the node; remove it"
			}
			return "", ""
		})...)
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?securityContext.?windowsOptions.?hostProcess.orValue(false) == false`, Field: "spec.securityContext.windowsOptions.hostProcess",
			Message: "Windows HostProcess container is forbidden: the Pod sets windowsOptions.hostProcess=true, which runs every container on the node; remove it"},
		{Each: EachContainer, Expr: `c.?securityContext.?windowsOptions.?hostProcess.orValue(false) == false`, Field: ".securityContext.windowsOptions.hostProcess",
			Message: "Windows HostProcess container is forbidden: windowsOptions.hostProcess=true runs it on the node; remove it"},
	}},
}
