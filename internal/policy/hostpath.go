package policy

import (
	"path"
	"strings"
)

// CleanHostPath normalises a hostPath the way the kernel resolves it for
// comparison: "//", "/./", ".." and a trailing "/" are removed. A relative
// path is made absolute, since a hostPath is always resolved from "/".
func CleanHostPath(p string) string {
	return path.Clean("/" + p)
}

// credentialLocations are host paths that hold, or are, credentials of the
// node or its container runtime. /var/run is also checked as /run.
var credentialLocations = []struct{ path, what string }{
	{"/", "the whole node filesystem"},
	{"/var/run/docker.sock", "the Docker socket"},
	{"/run/containerd/containerd.sock", "the containerd socket"},
	{"/var/run/crio/crio.sock", "the CRI-O socket"},
	{"/var/run/cri-dockerd.sock", "the cri-dockerd socket"},
	{"/var/run/secrets", "service account and cloud credentials"},
	{"/var/lib/kubelet", "the kubelet's state and Pod secrets"},
	{"/var/lib/kubelet/pki", "the kubelet's client certificates"},
	{"/var/lib/docker", "the Docker engine's state"},
	{"/var/lib/containerd", "containerd's state"},
	{"/etc/kubernetes", "the node's kubeconfigs and PKI"},
	{"/etc", "the node's configuration"},
	{"/root", "root's home and credentials"},
	{"/home", "users' homes and credentials"},
	{"/proc", "every process of the node"},
	{"/sys", "the kernel's devices and settings"},
	{"/dev", "the node's devices"},
}

// runAlias maps /var/run/... onto /run/..., since /var/run is a link to /run.
func runAlias(p string) string {
	if p == "/var/run" || strings.HasPrefix(p, "/var/run/") {
		return "/run" + strings.TrimPrefix(p, "/var/run")
	}
	return p
}

// within reports whether p is dir or lies below it. Both must be clean.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// CredentialExposure says which known credential location a clean host path
// is, contains or lies in; it returns "" when it is none of them.
func CredentialExposure(p string) string {
	rp := runAlias(p)
	var found []string
	for _, loc := range credentialLocations {
		l := runAlias(loc.path)
		switch {
		case rp == l:
			return "is " + loc.path + " (" + loc.what + ")"
		case within(l, rp):
			found = append(found, "contains "+loc.path+" ("+loc.what+")")
		}
	}
	if len(found) > 0 {
		return strings.Join(found, ", ")
	}
	for _, loc := range credentialLocations {
		if loc.path != "/" && within(rp, runAlias(loc.path)) {
			return "lies inside " + loc.path + " (" + loc.what + ")"
		}
	}
	return ""
}

// allowedHostPath reports whether the clean path p is on the allow-list:
// an entry admits itself and what lies below it, never its parent.
func allowedHostPath(p string, allow []string) bool {
	for _, a := range allow {
		if within(p, a) {
			return true
		}
	}
	return false
}
