package policy

// no-unsafe-selinux forbids SELinux options that leave the container's
// confinement: a type other than the container ones (spc_t, the "super
// privileged container", is unconfined) and any custom user or role.
// Reads: spec.securityContext.seLinuxOptions.{type,user,role} and the same
// fields of every init, regular and ephemeral container. Allowed: type unset,
// container_t, container_init_t, container_kvm_t or container_engine_t; user
// and role unset. The level stays free (it is how Pods are kept apart). The
// same values as Pod Security baseline's seLinuxOptions (1.31+).

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NoUnsafeSELinuxID is the stable ID of no-unsafe-selinux.
const NoUnsafeSELinuxID = "no-unsafe-selinux"

// safeSELinuxType reports whether t keeps a container confined.
func safeSELinuxType(t string) bool {
	switch t {
	case "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t":
		return true
	}
	return false
}

var noUnsafeSELinux = Rule{
	ID:      NoUnsafeSELinuxID,
	Since:   NextVersion,
	Summary: "SELinux types other than the container ones (spc_t), and custom SELinux users or roles",
	Doc: RuleDoc{
		Forbids: "`seLinuxOptions.type` other than `container_t`, `container_init_t`, `container_kvm_t`, `container_engine_t`, or any `seLinuxOptions.user` or `.role`, at Pod or container level",
		Threat:  "`spc_t` and custom users or roles run the container unconfined by SELinux, with the node's files open to it",
		Fix:     "remove `type`, `user` and `role` (keep `level` if you need it)",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "unsafe SELinux options"
		var out []Violation
		check := func(o *corev1.SELinuxOptions, field, who string) {
			if o == nil {
				return
			}
			if !safeSELinuxType(o.Type) {
				out = append(out, Violation{Field: field + ".type", Reason: reason,
					Detail: who + " sets SELinux type " + strconv.Quote(o.Type) + "; remove it or use container_t"})
			}
			if o.User != "" {
				out = append(out, Violation{Field: field + ".user", Reason: reason,
					Detail: who + " sets SELinux user " + strconv.Quote(o.User) + "; remove it"})
			}
			if o.Role != "" {
				out = append(out, Violation{Field: field + ".role", Reason: reason,
					Detail: who + " sets SELinux role " + strconv.Quote(o.Role) + "; remove it"})
			}
		}
		if sc := in.Pod.Spec.SecurityContext; sc != nil {
			check(sc.SELinuxOptions, "spec.securityContext.seLinuxOptions", "the Pod")
		}
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
				check(sc.SELinuxOptions, c.Path()+".securityContext.seLinuxOptions", "container "+strconv.Quote(c.Name))
			}
		})
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?securityContext.?seLinuxOptions.?type.orValue('') in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'] &&
			object.spec.?securityContext.?seLinuxOptions.?user.orValue('') == '' && object.spec.?securityContext.?seLinuxOptions.?role.orValue('') == ''`,
			Field: "spec.securityContext.seLinuxOptions", Message: "unsafe SELinux options: remove type, user and role, or use type container_t"},
		{Each: EachContainer, Expr: `c.?securityContext.?seLinuxOptions.?type.orValue('') in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'] &&
			c.?securityContext.?seLinuxOptions.?user.orValue('') == '' && c.?securityContext.?seLinuxOptions.?role.orValue('') == ''`,
			Field: ".securityContext.seLinuxOptions", Message: "unsafe SELinux options: remove type, user and role, or use type container_t"},
	}},
}
