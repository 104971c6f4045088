package policy

// allowed-registries (off by default) admits only images from the configured
// registries or repository prefixes (allowedRegistries). Reads: image of
// every container. Images without a registry are docker.io/library/... or
// docker.io/...; a prefix matches at a "/" boundary. Value: the normalized
// image.

import (
	"strconv"
	"strings"

	"github.com/distribution/reference"
)

// AllowedRegistriesID is the stable ID of allowed-registries.
const AllowedRegistriesID = "allowed-registries"

var allowedRegistries = Rule{
	ID:      AllowedRegistriesID,
	Summary: "images outside policy.allowedRegistries",
	Doc: RuleDoc{
		Forbids: "images outside `policy.allowedRegistries` (prefixes; `busybox` and `docker.io/busybox` are `docker.io/library/busybox`)",
		Threat:  "untrusted images",
		Fix:     "use an allowed registry",
	},
	Default: Off,
	Check: func(in *Input, o *Options) []Violation {
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			img := NormalizeImage(c.Image)
			for _, p := range o.AllowedRegistries {
				p = strings.TrimSuffix(p, "/")
				if strings.HasPrefix(img, p+"/") {
					return
				}
			}
			out = append(out, Violation{Field: c.Path() + ".image", Reason: "image registry is not allowed", Value: img,
				Detail: "container " + strconv.Quote(c.Name) + " uses image " + strconv.Quote(img) + ", not from " + strings.Join(o.AllowedRegistries, ", ")})
		})
		return out
	},
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
