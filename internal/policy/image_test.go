package policy

import "testing"

// NormalizeImage spells a reference as the container runtime resolves it,
// so that allowedRegistries prefixes match however the image is written.
func TestNormalizeImage(t *testing.T) {
	for img, want := range map[string]string{
		"busybox":                                     "docker.io/library/busybox",
		"busybox:1.36":                                "docker.io/library/busybox:1.36",
		"library/busybox":                             "docker.io/library/busybox",
		"docker.io/busybox":                           "docker.io/library/busybox",
		"docker.io/library/busybox":                   "docker.io/library/busybox",
		"index.docker.io/busybox":                     "docker.io/library/busybox",
		"kestra/kestra:latest":                        "docker.io/kestra/kestra:latest",
		"ghcr.io/kestra-io/kestra":                    "ghcr.io/kestra-io/kestra",
		"localhost/app":                               "localhost/app",
		"localhost:5000/app":                          "localhost:5000/app",
		"registry.example.com:5000/a/b@sha256:" + sha: "registry.example.com:5000/a/b@sha256:" + sha,
		// Not a valid reference (upper case): left as written, still
		// prefixed, so no prefix of a real registry matches by accident.
		"Evil/Image": "docker.io/Evil/Image",
	} {
		if got := NormalizeImage(img); got != want {
			t.Errorf("NormalizeImage(%q) = %q, want %q", img, got, want)
		}
	}
}

const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
