package policy

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The API server's ServiceAccount admission plugin runs before mutating
// webhooks: when the Pod did not turn the token off, it has already added a
// projected volume kube-api-access-<random> (token, kube-root-ca.crt,
// namespace) and mounted it read-only at ServiceAccountTokenDir in every
// container. Setting automountServiceAccountToken: false afterwards does not
// take it away, so mutation removes it too.

// ServiceAccountTokenDir is where the ServiceAccount plugin mounts the token.
const ServiceAccountTokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"

const injectedTokenPrefix = "kube-api-access-"

// isInjectedTokenVolume reports whether v has the exact shape the
// ServiceAccount plugin injects; a volume a user wrote is never removed.
func isInjectedTokenVolume(v *corev1.Volume) bool {
	p := v.Projected
	if !strings.HasPrefix(v.Name, injectedTokenPrefix) || p == nil || len(p.Sources) != 3 {
		return false
	}
	var token, ca, ns bool
	for _, s := range p.Sources {
		switch {
		case s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == "" && s.ServiceAccountToken.Path == "token":
			token = true
		case s.ConfigMap != nil && s.ConfigMap.Name == "kube-root-ca.crt":
			ca = true
		case s.DownwardAPI != nil && len(s.DownwardAPI.Items) == 1 && s.DownwardAPI.Items[0].Path == "namespace" &&
			s.DownwardAPI.Items[0].FieldRef != nil && s.DownwardAPI.Items[0].FieldRef.FieldPath == "metadata.namespace":
			ns = true
		}
	}
	return token && ca && ns
}

// removeInjectedToken removes the volume the ServiceAccount plugin injected
// and every mount of it, from the last index down so that each patch path
// stays valid when applied in order.
func (m *mutation) removeInjectedToken() {
	spec := &m.pod.Spec
	for vi := len(spec.Volumes) - 1; vi >= 0; vi-- {
		v := &spec.Volumes[vi]
		if !isInjectedTokenVolume(v) {
			continue
		}
		name := v.Name
		removeMounts := func(c *corev1.Container, list string, i int) {
			for mi := len(c.VolumeMounts) - 1; mi >= 0; mi-- {
				if c.VolumeMounts[mi].Name != name {
					continue
				}
				if m.describe {
					field := "spec." + list + "[" + strconv.Itoa(i) + "].volumeMounts[" + c.VolumeMounts[mi].MountPath + "]"
					m.result.Changes = append(m.result.Changes, field+"=removed (injected service account token)")
				}
				m.result.Patch = append(m.result.Patch, PatchOp{Op: "remove", Path: "/spec/" + list + "/" + strconv.Itoa(i) + "/volumeMounts/" + strconv.Itoa(mi)})
				c.VolumeMounts = append(c.VolumeMounts[:mi], c.VolumeMounts[mi+1:]...)
			}
		}
		for i := range spec.InitContainers {
			removeMounts(&spec.InitContainers[i], "initContainers", i)
		}
		for i := range spec.Containers {
			removeMounts(&spec.Containers[i], "containers", i)
		}
		for i := range spec.EphemeralContainers {
			removeMounts((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon), "ephemeralContainers", i)
		}
		if m.describe {
			m.result.Changes = append(m.result.Changes, "spec.volumes["+name+"]=removed (injected service account token)")
		}
		m.result.Patch = append(m.result.Patch, PatchOp{Op: "remove", Path: "/spec/volumes/" + strconv.Itoa(vi)})
		spec.Volumes = append(spec.Volumes[:vi], spec.Volumes[vi+1:]...)
	}
}
