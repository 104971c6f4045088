package policy

// no-unsafe-sysctls admits only the sysctls the kubelet counts as safe:
// namespaced to the Pod and isolated from other Pods on the node.
// Reads: spec.securityContext.sysctls[].name. Allowed: the names Pod
// Security baseline's sysctls check allows at the version in go.mod (1.37),
// spelled with dots exactly as below.

import (
	"slices"
	"strconv"
)

// NoUnsafeSysctlsID is the stable ID of no-unsafe-sysctls.
const NoUnsafeSysctlsID = "no-unsafe-sysctls"

// safeSysctls are the sysctls the kubelet counts as safe.
var safeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
	"net.ipv4.tcp_slow_start_after_idle",
	"net.ipv4.tcp_notsent_lowat",
}

// safeSysctl reports whether the kubelet counts sysctl name as safe.
func safeSysctl(name string) bool { return slices.Contains(safeSysctls, name) }

var noUnsafeSysctls = Rule{
	ID:      NoUnsafeSysctlsID,
	Since:   NextVersion,
	Summary: "sysctls outside the safe set (e.g. kernel.msgmax)",
	Doc: RuleDoc{
		Forbids: "`spec.securityContext.sysctls` outside the safe set of Pod Security baseline (`kernel.shm_rmid_forced`, `net.ipv4.ip_local_port_range`, `net.ipv4.ip_unprivileged_port_start`, `net.ipv4.tcp_*` keepalive and buffer settings, ...), such as `kernel.msgmax`",
		Threat:  "an unsafe sysctl changes the kernel for every Pod on the node, or lifts limits that keep Pods apart",
		Fix:     "remove it, or run the task on a node pool made for it",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		sc := in.Pod.Spec.SecurityContext
		if sc == nil {
			return nil
		}
		var out []Violation
		for i, s := range sc.Sysctls {
			if !safeSysctl(s.Name) {
				out = append(out, Violation{Field: "spec.securityContext.sysctls[" + strconv.Itoa(i) + "].name", Reason: "unsafe sysctl",
					Detail: "the Pod sets sysctl " + strconv.Quote(s.Name) + ", which is not in the safe set; remove it"})
			}
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: "spec.securityContext.sysctls", Expr: `v.name in ` + celStrings(safeSysctls), Field: ".name",
			Message: "unsafe sysctl: the Pod sets a sysctl outside the safe set; remove it"},
	}},
}
