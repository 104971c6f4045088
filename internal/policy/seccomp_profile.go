package policy

// seccomp-profile demands a seccomp profile on every container.
// Reads: spec.securityContext.seccompProfile.type and each container's
// securityContext.seccompProfile.type (the container's wins). Passes when
// every container's effective type is RuntimeDefault or Localhost and no
// level sets another type (as Pod Security "restricted").

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

func validSeccomp(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
}

// SeccompProfileID is the stable ID of seccomp-profile.
const SeccompProfileID = "seccomp-profile"

var seccompProfile = Rule{
	ID:      SeccompProfileID,
	Since:   "v0.1.0",
	Summary: "containers without a RuntimeDefault or Localhost seccomp profile",
	Doc: RuleDoc{
		Forbids: "no seccomp profile, or `Unconfined`",
		Threat:  "kernel attack surface",
		Fix:     "`RuntimeDefault` (mutation sets it on the Pod)",
	},
	Default:    Deny,
	FlowFields: []string{"seccompProfile"},
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "no seccomp profile"
		var out []Violation
		podValid := false
		if sc := in.Pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			if podValid = validSeccomp(sc.SeccompProfile.Type); !podValid {
				out = append(out, Violation{Field: "spec.securityContext.seccompProfile.type", Reason: reason,
					Detail: "the Pod sets seccomp profile " + strconv.Quote(string(sc.SeccompProfile.Type)) + "; use RuntimeDefault"})
			}
		}
		return append(out, containerFailures(&in.Pod.Spec, reason, func(c containerRef) (string, string) {
			const field = ".securityContext.seccompProfile.type"
			if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
				if validSeccomp(sc.SeccompProfile.Type) {
					return "", ""
				}
				return c.Path() + field, "container " + strconv.Quote(c.Name) + " sets seccomp profile " + strconv.Quote(string(sc.SeccompProfile.Type)) + "; use RuntimeDefault"
			}
			if podValid || in.Fragment {
				return "", ""
			}
			return c.Path() + field, "container " + strconv.Quote(c.Name) + " has no valid seccomp profile; set spec.securityContext.seccompProfile.type: RuntimeDefault"
		})...)
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?securityContext.?seccompProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']`, Field: "spec.securityContext.seccompProfile.type",
			Message: "no seccomp profile: the Pod sets a profile other than RuntimeDefault or Localhost; use RuntimeDefault"},
		{Each: EachContainer, Expr: `c.?securityContext.?seccompProfile.?type.orValue(object.spec.?securityContext.?seccompProfile.?type.orValue('')) in ['RuntimeDefault', 'Localhost']`, Field: ".securityContext.seccompProfile.type",
			Message: "no seccomp profile: the container has no RuntimeDefault or Localhost profile; set spec.securityContext.seccompProfile.type: RuntimeDefault"},
	}},
}
