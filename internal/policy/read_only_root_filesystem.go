package policy

// read-only-root-filesystem forbids containers with a writable root filesystem.
// Reads: securityContext.readOnlyRootFilesystem of every init, regular and
// ephemeral container. Passes when it is true for each.

import "strconv"

// ReadOnlyRootFilesystemID is the stable ID of read-only-root-filesystem.
const ReadOnlyRootFilesystemID = "read-only-root-filesystem"

var readOnlyRootFilesystem = Rule{
	ID:      ReadOnlyRootFilesystemID,
	Since:   "v0.1.0",
	Summary: "containers with a writable root filesystem",
	Doc: RuleDoc{
		Forbids: "a container without `readOnlyRootFilesystem: true`",
		Threat:  "dropped tools and persistence in the image's filesystem",
		Fix:     "set it; mount an `emptyDir` at `/tmp` and set `HOME=/tmp` (mutation does all three)",
	},
	Default:    Deny,
	FlowFields: []string{"readOnlyRootFilesystem"},
	Check: func(in *Input, _ *Options) []Violation {
		return containerFailures(&in.Pod.Spec, "root filesystem is writable", func(c containerRef) (string, string) {
			sc := c.SecurityContext
			switch {
			case sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem:
				return "", ""
			case sc != nil && sc.ReadOnlyRootFilesystem != nil:
				return c.Path() + ".securityContext.readOnlyRootFilesystem", "container " + strconv.Quote(c.Name) + " has readOnlyRootFilesystem=false; set it to true and mount an emptyDir at /tmp for scratch files"
			case in.Fragment:
				return "", ""
			}
			return c.Path() + ".securityContext.readOnlyRootFilesystem", "container " + strconv.Quote(c.Name) + " does not set readOnlyRootFilesystem; set it to true and mount an emptyDir at /tmp for scratch files"
		})
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?securityContext.?readOnlyRootFilesystem.orValue(false) == true`, Field: ".securityContext.readOnlyRootFilesystem",
			Message: "root filesystem is writable: set readOnlyRootFilesystem: true and mount an emptyDir at /tmp for scratch files"},
	}},
}
