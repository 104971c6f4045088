// Package podspec reads Pod specs the way the kubelet applies them, for tests
// of the policy engine and of the real API server alike. It imports only the
// Kubernetes API types, so that internal/policy's tests can use it.
package podspec

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Identity is the "uid:gid" container c of p runs with: the container's
// runAsUser and runAsGroup, else the Pod's; "unset" where neither sets one.
func Identity(p *corev1.Pod, c *corev1.Container) string {
	var u, g *int64
	if sc := p.Spec.SecurityContext; sc != nil {
		u, g = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			g = sc.RunAsGroup
		}
	}
	show := func(v *int64) string {
		if v == nil {
			return "unset"
		}
		return fmt.Sprint(*v)
	}
	return show(u) + ":" + show(g)
}
