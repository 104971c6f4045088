package policy

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// containerRef is one container of a Pod, whatever its kind, with the fields
// rules read from it. Its field path is built only when a rule fails.
type containerRef struct {
	list  string // initContainers, containers or ephemeralContainers
	index int
	*corev1.Container
	// SecurityContext et al. come from Container; for ephemeral containers
	// Container points at a copy of the common fields.
}

// Path is the container's field path, such as spec.initContainers[0].
func (c containerRef) Path() string {
	return "spec." + c.list + "[" + strconv.Itoa(c.index) + "]"
}

// visitContainers calls fn for every init, regular and ephemeral container,
// by index.
func visitContainers(spec *corev1.PodSpec, fn func(c containerRef)) {
	ref := containerRef{list: "initContainers"}
	for i := range spec.InitContainers {
		ref.index, ref.Container = i, &spec.InitContainers[i]
		fn(ref)
	}
	ref.list = "containers"
	for i := range spec.Containers {
		ref.index, ref.Container = i, &spec.Containers[i]
		fn(ref)
	}
	ref.list = "ephemeralContainers"
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		ref.index, ref.Container = i, &c
		fn(ref)
	}
}

// containerFailures collects one violation per container for which bad
// returns a non-empty field path; detail says what was found.
func containerFailures(spec *corev1.PodSpec, reason string, bad func(c containerRef) (field, detail string)) []Violation {
	var out []Violation
	visitContainers(spec, func(c containerRef) {
		if field, detail := bad(c); field != "" {
			out = append(out, Violation{Field: field, Reason: reason, Detail: detail})
		}
	})
	return out
}
