package policy

// allowed-registries (off by default) admits only images from the configured
// registries or repository prefixes (allowedRegistries). Reads: image of
// every container and spec.volumes[].image.reference (an image volume is
// pulled like a container image). Images without a registry are
// docker.io/library/... or docker.io/...; a prefix matches at a "/"
// boundary. Value: the normalized image.

import (
	"strconv"
	"strings"

	"github.com/distribution/reference"
)

// AllowedRegistriesID is the stable ID of allowed-registries.
const AllowedRegistriesID = "allowed-registries"

var allowedRegistries = Rule{
	ID:      AllowedRegistriesID,
	Since:   "v0.1.0",
	Changes: []Change{{Version: NextVersion, Summary: "reads image volumes' references; accepts the start gate's image when it is exactly the configured one", Before: withoutFields("spec.volumes[")}},
	Summary: "images outside policy.allowedRegistries",
	Doc: RuleDoc{
		Forbids: "images outside `policy.allowedRegistries` (prefixes; `busybox` and `docker.io/busybox` are `docker.io/library/busybox`), in containers and `image` volumes",
		Threat:  "untrusted images",
		Fix:     "use an allowed registry",
	},
	Default:    Off,
	FlowFields: nil,
	Check: func(in *Input, o *Options) []Violation {
		const reason = "image registry is not allowed"
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			if o.IsGate(c.Container) {
				return // kestra-guard's own image, set by the operator
			}
			img := NormalizeImage(c.Image)
			if allowedImage(img, o.AllowedRegistries) {
				return
			}
			out = append(out, Violation{Field: c.Path() + ".image", Reason: reason, Value: img,
				Detail: "container " + strconv.Quote(c.Name) + " uses image " + strconv.Quote(img) + ", not from " + strings.Join(o.AllowedRegistries, ", ")})
		})
		for i := range in.Pod.Spec.Volumes {
			v := &in.Pod.Spec.Volumes[i]
			if v.Image == nil {
				continue
			}
			if img := NormalizeImage(v.Image.Reference); !allowedImage(img, o.AllowedRegistries) {
				out = append(out, Violation{Field: "spec.volumes[" + strconv.Itoa(i) + "].image.reference", Reason: reason, Value: img,
					Detail: "image volume " + strconv.Quote(v.Name) + " mounts image " + strconv.Quote(img) + ", not from " + strings.Join(o.AllowedRegistries, ", ")})
			}
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `(variables.gateEnabled && ` + celGate("c") + `) || variables.allowedRegistries.exists(p, ` +
			celNormalizedImage("c.?image.orValue('')") + `.startsWith((p.endsWith('/') ? p.substring(0, p.size() - 1) : p) + '/'))`, Field: ".image",
			Message: "image registry is not allowed: use an image from policy.allowedRegistries"},
		{Each: "spec.volumes", Expr: `!has(v.image) || variables.allowedRegistries.exists(p, ` +
			celNormalizedImage("v.image.?reference.orValue('')") + `.startsWith((p.endsWith('/') ? p.substring(0, p.size() - 1) : p) + '/'))`, Field: ".image.reference",
			Message: "image registry is not allowed: use an image from policy.allowedRegistries"},
	}, WebhookOnly: "CEL spells an image with its registry for the common forms (`busybox`, `docker.io/busybox`, `org/app`, `host/app`); references such as `index.docker.io/...` are normalised by the webhook only"},
}

// allowedImage reports whether the normalized image img lies under one of
// the prefixes, at a "/" boundary.
func allowedImage(img string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(img, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// NormalizeImage spells an image reference with its registry, as the
// container runtime resolves it (github.com/distribution/reference):
// busybox and docker.io/busybox are docker.io/library/busybox. An invalid
// reference (the API server does not check images) keeps its spelling, with
// docker.io/ in front when its first part is not a registry host.
func NormalizeImage(img string) string {
	if named, err := reference.ParseNormalizedNamed(img); err == nil {
		return named.String()
	}
	first, _, found := strings.Cut(img, "/")
	if !found {
		return "docker.io/library/" + img
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + img
	}
	return img
}
