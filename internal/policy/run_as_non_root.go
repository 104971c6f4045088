package policy

// run-as-non-root forbids containers that may run as UID 0.
// Reads: spec.securityContext.{runAsNonRoot,runAsUser} and the same fields of
// every init, regular and ephemeral container (the container's value wins).
// Passes when, for every container, the effective runAsUser is set and
// non-zero or the effective runAsNonRoot is true, and neither runAsUser: 0 nor
// runAsNonRoot: false takes effect.

import (
	"strconv"
)

var runAsNonRoot = Rule{
	ID:      "run-as-non-root",
	Default: Deny,
	Check: func(in *Input, _ *Options) []Violation {
		spec := &in.Pod.Spec
		var podUser *int64
		var podNonRoot *bool
		if sc := spec.SecurityContext; sc != nil {
			podUser, podNonRoot = sc.RunAsUser, sc.RunAsNonRoot
		}
		const reason = "container may run as root"
		var out []Violation
		visitContainers(spec, func(c *containerRef) {
			user, userField := podUser, "spec.securityContext.runAsUser"
			nonRoot, nonRootField := podNonRoot, "spec.securityContext.runAsNonRoot"
			if sc := c.SecurityContext; sc != nil {
				if sc.RunAsUser != nil {
					user, userField = sc.RunAsUser, c.Path()+".securityContext.runAsUser"
				}
				if sc.RunAsNonRoot != nil {
					nonRoot, nonRootField = sc.RunAsNonRoot, c.Path()+".securityContext.runAsNonRoot"
				}
			}
			switch {
			case user != nil && *user == 0:
				out = append(out, Violation{Field: userField, Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " has runAsUser=0; set a non-zero runAsUser such as 65532"})
			case nonRoot != nil && !*nonRoot:
				out = append(out, Violation{Field: nonRootField, Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " has runAsNonRoot=false; set runAsNonRoot: true with a non-zero runAsUser"})
			case !in.Fragment && user == nil && (nonRoot == nil || !*nonRoot):
				out = append(out, Violation{Field: c.Path() + ".securityContext.runAsNonRoot", Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " sets neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level; set both in the Pod's securityContext"})
			}
		})
		return out
	},
}
