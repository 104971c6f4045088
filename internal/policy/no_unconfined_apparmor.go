package policy

// no-unconfined-apparmor forbids turning AppArmor off or choosing a profile
// the runtime does not confine with.
// Reads: spec.securityContext.appArmorProfile.type, the same field of every
// init, regular and ephemeral container, and the older annotations
// container.apparmor.security.beta.kubernetes.io/<container> (any suffix).
// Allowed: type unset, RuntimeDefault or Localhost; annotation value empty,
// runtime/default or localhost/<profile>. The same values as Pod Security
// baseline's appArmorProfile.

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NoUnconfinedAppArmorID is the stable ID of no-unconfined-apparmor.
const NoUnconfinedAppArmorID = "no-unconfined-apparmor"

var noUnconfinedAppArmor = Rule{
	ID:      NoUnconfinedAppArmorID,
	Since:   NextVersion,
	Summary: "AppArmor profile Unconfined (field or the older annotation)",
	Doc: RuleDoc{
		Forbids: "`appArmorProfile.type` other than `RuntimeDefault` or `Localhost` (Pod or container), or an annotation `container.apparmor.security.beta.kubernetes.io/<name>` other than `runtime/default` or `localhost/<profile>` (`unconfined`)",
		Threat:  "no AppArmor profile lifts the runtime's mount, ptrace and `/proc` restrictions",
		Fix:     "remove the field and the annotation (the runtime applies its default)",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "AppArmor is not confining"
		var out []Violation
		if sc := in.Pod.Spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !confiningAppArmor(sc.AppArmorProfile.Type) {
			out = append(out, Violation{Field: "spec.securityContext.appArmorProfile.type", Reason: reason,
				Detail: "the Pod sets AppArmor profile " + strconv.Quote(string(sc.AppArmorProfile.Type)) + "; remove it or use RuntimeDefault"})
		}
		out = append(out, containerFailures(&in.Pod.Spec, reason, func(c containerRef) (string, string) {
			if sc := c.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !confiningAppArmor(sc.AppArmorProfile.Type) {
				return c.Path() + ".securityContext.appArmorProfile.type", "container " + strconv.Quote(c.Name) + " sets AppArmor profile " + strconv.Quote(string(sc.AppArmorProfile.Type)) + "; remove it or use RuntimeDefault"
			}
			return "", ""
		})...)
		var bad []string
		for k, v := range in.Pod.Annotations {
			if strings.HasPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix) && !confiningAppArmorAnnotation(v) {
				bad = append(bad, k)
			}
		}
		slices.Sort(bad) // map order is random; results must not be
		for _, k := range bad {
			out = append(out, Violation{Field: "metadata.annotations[" + k + "]", Reason: reason,
				Detail: "annotation " + k + "=" + strconv.Quote(in.Pod.Annotations[k]) + " sets an AppArmor profile that is not runtime/default or localhost/<profile>; remove the annotation"})
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']`, Field: "spec.securityContext.appArmorProfile.type",
			Message: "AppArmor is not confining: remove the profile or use RuntimeDefault"},
		{Each: EachContainer, Expr: `c.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']`, Field: ".securityContext.appArmorProfile.type",
			Message: "AppArmor is not confining: remove the profile or use RuntimeDefault"},
		{Expr: `object.metadata.?annotations.orValue({}).all(k, !k.startsWith('` + corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + `') ||
			object.metadata.annotations[k] == '' || object.metadata.annotations[k] == '` + corev1.DeprecatedAppArmorBetaProfileRuntimeDefault + `' ||
			object.metadata.annotations[k].startsWith('` + corev1.DeprecatedAppArmorBetaProfileNamePrefix + `'))`, Field: "metadata.annotations[" + corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "*]",
			Message: "AppArmor is not confining: an annotation sets a profile that is not runtime/default or localhost/<profile>; remove the annotation"},
	}},
}

func confiningAppArmor(t corev1.AppArmorProfileType) bool {
	return t == corev1.AppArmorProfileTypeRuntimeDefault || t == corev1.AppArmorProfileTypeLocalhost
}

func confiningAppArmorAnnotation(v string) bool {
	return v == "" || v == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault || strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix)
}
