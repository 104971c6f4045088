package policy

// run-as-non-root forbids containers that may run as UID 0.
// Reads: spec.securityContext.{runAsNonRoot,runAsUser} and the same fields of
// every init, regular and ephemeral container (the container's value wins).
// Passes when, for every container, the effective runAsUser is non-zero or
// the effective runAsNonRoot is true, and runAsUser: 0 or runAsNonRoot: false
// is set nowhere: as in Pod Security "restricted", an explicit root setting
// at Pod level fails even where every container overrides it, since a
// container added later would inherit it.

import (
	"strconv"
)

// RunAsNonRootID is the stable ID of run-as-non-root.
const RunAsNonRootID = "run-as-non-root"

var runAsNonRoot = Rule{
	ID:      RunAsNonRootID,
	Since:   "v0.1.0",
	Summary: "containers that may run as UID 0 (runAsNonRoot unset or false, runAsUser 0)",
	Doc: RuleDoc{
		Forbids: "any container (init, regular, ephemeral) that may run as UID 0: `runAsUser: 0` or `runAsNonRoot: false` where it takes effect, or neither a non-zero `runAsUser` nor `runAsNonRoot: true` (container level wins over Pod level)",
		Threat:  "root in the container is one kernel bug from root on the node",
		Fix:     "`securityContext: {runAsNonRoot: true, runAsUser: 65532}` (mutation sets it)",
	},
	Default:    Deny,
	FlowFields: []string{"runAsNonRoot", "runAsUser"},
	Check: func(in *Input, _ *Options) []Violation {
		const reason = "container may run as root"
		spec := &in.Pod.Spec
		var out []Violation
		var podUser *int64
		var podNonRoot *bool
		if sc := spec.SecurityContext; sc != nil {
			podUser, podNonRoot = sc.RunAsUser, sc.RunAsNonRoot
			if podUser != nil && *podUser == 0 {
				out = append(out, Violation{Field: "spec.securityContext.runAsUser", Reason: reason,
					Detail: "the Pod sets runAsUser=0; set a non-zero runAsUser such as 65532"})
			}
			if podNonRoot != nil && !*podNonRoot {
				out = append(out, Violation{Field: "spec.securityContext.runAsNonRoot", Reason: reason,
					Detail: "the Pod sets runAsNonRoot=false; set runAsNonRoot: true with a non-zero runAsUser"})
			}
		}
		podBad := len(out) > 0
		visitContainers(spec, func(c containerRef) {
			user, nonRoot := podUser, podNonRoot
			var cUser *int64
			var cNonRoot *bool
			if sc := c.SecurityContext; sc != nil {
				cUser, cNonRoot = sc.RunAsUser, sc.RunAsNonRoot
				if cUser != nil {
					user = cUser
				}
				if cNonRoot != nil {
					nonRoot = cNonRoot
				}
			}
			switch {
			case cUser != nil && *cUser == 0:
				out = append(out, Violation{Field: c.Path() + ".securityContext.runAsUser", Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " has runAsUser=0; set a non-zero runAsUser such as 65532"})
			case cNonRoot != nil && !*cNonRoot:
				out = append(out, Violation{Field: c.Path() + ".securityContext.runAsNonRoot", Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " has runAsNonRoot=false; set runAsNonRoot: true with a non-zero runAsUser"})
			case podBad || in.Fragment:
			case (user == nil || *user == 0) && (nonRoot == nil || !*nonRoot):
				out = append(out, Violation{Field: c.Path() + ".securityContext.runAsNonRoot", Reason: reason,
					Detail: "container " + strconv.Quote(c.Name) + " sets neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level; set both in the Pod's securityContext"})
			}
		})
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?securityContext.?runAsUser.orValue(1) != 0`, Field: "spec.securityContext.runAsUser",
			Message: "container may run as root: the Pod sets runAsUser=0; set a non-zero runAsUser such as 65532"},
		{Expr: `object.spec.?securityContext.?runAsNonRoot.orValue(true) == true`, Field: "spec.securityContext.runAsNonRoot",
			Message: "container may run as root: the Pod sets runAsNonRoot=false; set runAsNonRoot: true with a non-zero runAsUser"},
		{Each: EachContainer, Expr: `c.?securityContext.?runAsUser.orValue(1) != 0`, Field: ".securityContext.runAsUser",
			Message: "container may run as root: runAsUser=0; set a non-zero runAsUser such as 65532"},
		{Each: EachContainer, Expr: `c.?securityContext.?runAsNonRoot.orValue(true) == true`, Field: ".securityContext.runAsNonRoot",
			Message: "container may run as root: runAsNonRoot=false; set runAsNonRoot: true with a non-zero runAsUser"},
		{Each: EachContainer, Expr: `c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(0)) != 0 ||
			c.?securityContext.?runAsNonRoot.orValue(object.spec.?securityContext.?runAsNonRoot.orValue(false)) == true`, Field: ".securityContext.runAsNonRoot",
			Message: "container may run as root: neither runAsNonRoot: true nor a non-zero runAsUser, at Pod or container level; set both in the Pod's securityContext"},
	}},
}
