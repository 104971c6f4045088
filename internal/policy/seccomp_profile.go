package policy

// seccomp-profile demands a seccomp profile on every container.
// Reads: spec.securityContext.seccompProfile.type and each container's
// securityContext.seccompProfile.type (the container's wins). Passes when
// the effective type is RuntimeDefault or Localhost.

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

var seccompProfile = Rule{
	ID:      "seccomp-profile",
	Default: Deny,
	Check: func(in *Input, _ *Options) []Violation {
		var podType *corev1.SeccompProfileType
		if sc := in.Pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			podType = &sc.SeccompProfile.Type
		}
		return containerFailures(&in.Pod.Spec, "no seccomp profile", func(c *containerRef) (string, string) {
			t, field := podType, "spec.securityContext.seccompProfile.type"
			if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
				t, field = &sc.SeccompProfile.Type, c.Path()+".securityContext.seccompProfile.type"
			}
			switch {
			case t != nil && (*t == corev1.SeccompProfileTypeRuntimeDefault || *t == corev1.SeccompProfileTypeLocalhost):
				return "", ""
			case t != nil:
				return field, "container " + strconv.Quote(c.Name) + " runs with seccomp profile " + strconv.Quote(string(*t)) + "; use RuntimeDefault"
			case in.Fragment:
				return "", ""
			}
			return c.Path() + ".securityContext.seccompProfile.type", "container " + strconv.Quote(c.Name) + " has no seccomp profile; set spec.securityContext.seccompProfile.type: RuntimeDefault"
		})
	},
}
