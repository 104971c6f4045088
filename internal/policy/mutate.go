package policy

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// TmpVolume is the name of the emptyDir mutation mounts at /tmp.
const TmpVolume = "kestra-guard-tmp"

// Scope says which parts of a Pod mutation may change: all of it on CREATE,
// only ephemeral containers on an update of pods/ephemeralcontainers.
type Scope int

const (
	ScopePod Scope = iota
	ScopeEphemeral
)

// PatchOp is one JSON patch (RFC 6902) operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Mutation is what Mutate changed: one "field=value" line per setting, for
// people, and the JSON patch that turns the original Pod into the mutated one.
type Mutation struct {
	Changes []string
	Patch   []PatchOp
}

// Mutate fills in pod every safe setting that is unset. It never overwrites
// an explicit value: an explicit violation stays for the validator to
// refuse. All containers get one non-root identity, so they can share
// Kestra's working directory, and root images such as busybox start. The
// patch is built as the fields are set, without diffing documents.
func (o *Options) Mutate(pod *corev1.Pod, scope Scope) Mutation {
	m := mutation{opts: o, pod: pod}
	spec := &pod.Spec
	if scope == ScopePod {
		sc := spec.SecurityContext
		whole := sc == nil
		if whole {
			sc = &corev1.PodSecurityContext{}
			spec.SecurityContext = sc
		}
		at := m.at(whole, "/spec/securityContext/")
		m.setBool(&sc.RunAsNonRoot, true, "spec.securityContext.runAsNonRoot", at("runAsNonRoot"))
		m.setInt(&sc.RunAsUser, o.Mutation.RunAsUser, "spec.securityContext.runAsUser", at("runAsUser"))
		m.setInt(&sc.RunAsGroup, o.Mutation.RunAsGroup, "spec.securityContext.runAsGroup", at("runAsGroup"))
		m.setInt(&sc.FSGroup, o.Mutation.FSGroup, "spec.securityContext.fsGroup", at("fsGroup"))
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			m.changed("spec.securityContext.seccompProfile.type", "RuntimeDefault", at("seccompProfile"), sc.SeccompProfile)
		}
		if whole {
			m.add("/spec/securityContext", sc)
		}
		m.setBool(&spec.AutomountServiceAccountToken, false, "spec.automountServiceAccountToken", "/spec/automountServiceAccountToken")
		if !*spec.AutomountServiceAccountToken {
			m.removeInjectedToken() // see mutate_token.go
		}
		for i := range spec.InitContainers {
			m.container(&spec.InitContainers[i], "initContainers", i, true)
		}
		for i := range spec.Containers {
			m.container(&spec.Containers[i], "containers", i, true)
		}
	}
	for i := range spec.EphemeralContainers {
		c := (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon)
		m.container(c, "ephemeralContainers", i, scope == ScopePod || m.hasTmpVolume())
	}
	return m.result
}

type mutation struct {
	opts   *Options
	pod    *corev1.Pod
	result Mutation
}

// at returns the patch path of a field under prefix, or "" when the whole
// parent object is added at once.
func (m *mutation) at(whole bool, prefix string) func(string) string {
	return func(field string) string {
		if whole {
			return ""
		}
		return prefix + field
	}
}

func (m *mutation) add(path string, value any) {
	m.result.Patch = append(m.result.Patch, PatchOp{Op: "add", Path: path, Value: value})
}

// changed records a change for people and, when path is set, its patch.
func (m *mutation) changed(field, shown, path string, value any) {
	m.result.Changes = append(m.result.Changes, field+"="+shown)
	if path != "" {
		m.add(path, value)
	}
}

func (m *mutation) setBool(p **bool, v bool, field, path string) {
	if *p == nil {
		*p = ptr.To(v)
		m.changed(field, strconv.FormatBool(v), path, v)
	}
}

func (m *mutation) setInt(p **int64, v int64, field, path string) {
	if *p == nil {
		*p = ptr.To(v)
		m.changed(field, strconv.FormatInt(v, 10), path, v)
	}
}

func (m *mutation) container(c *corev1.Container, list string, i int, mayMountTmp bool) {
	field := "spec." + list + "[" + strconv.Itoa(i) + "]"
	base := "/spec/" + list + "/" + strconv.Itoa(i)
	sc := c.SecurityContext
	whole := sc == nil
	if whole {
		sc = &corev1.SecurityContext{}
		c.SecurityContext = sc
	}
	at := m.at(whole, base+"/securityContext/")
	m.setBool(&sc.ReadOnlyRootFilesystem, true, field+".securityContext.readOnlyRootFilesystem", at("readOnlyRootFilesystem"))
	// The API refuses allowPrivilegeEscalation=false next to privileged or
	// CAP_SYS_ADMIN; those stay for the validator to refuse.
	privileged := sc.Privileged != nil && *sc.Privileged
	if !privileged && (sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Add, "SYS_ADMIN")) {
		m.setBool(&sc.AllowPrivilegeEscalation, false, field+".securityContext.allowPrivilegeEscalation", at("allowPrivilegeEscalation"))
	}
	switch {
	case sc.Capabilities == nil:
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		m.changed(field+".securityContext.capabilities.drop", "[ALL]", at("capabilities"), sc.Capabilities)
	case len(sc.Capabilities.Drop) == 0:
		sc.Capabilities.Drop = []corev1.Capability{"ALL"}
		m.changed(field+".securityContext.capabilities.drop", "[ALL]", m.at(whole, base+"/securityContext/capabilities/")("drop"), sc.Capabilities.Drop)
	}
	if whole {
		m.add(base+"/securityContext", sc)
	}
	if *sc.ReadOnlyRootFilesystem && mayMountTmp && !mountsAt(c, "/tmp") {
		name := m.tmpVolume()
		mount := corev1.VolumeMount{Name: name, MountPath: "/tmp"}
		path, value := base+"/volumeMounts/-", any(mount)
		if len(c.VolumeMounts) == 0 { // an empty list is not in the JSON
			path, value = base+"/volumeMounts", []corev1.VolumeMount{mount}
		}
		c.VolumeMounts = append(c.VolumeMounts, mount)
		m.changed(field+".volumeMounts[/tmp]", "emptyDir "+name, path, value)
	}
}

func mountsAt(c *corev1.Container, dir string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return CleanHostPath(vm.MountPath) == dir })
}

func (m *mutation) hasTmpVolume() bool {
	return slices.ContainsFunc(m.pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == TmpVolume && v.EmptyDir != nil })
}

// tmpVolume returns the name of the /tmp emptyDir, adding it when missing.
func (m *mutation) tmpVolume() string {
	if m.hasTmpVolume() {
		return TmpVolume
	}
	ed := &corev1.EmptyDirVolumeSource{}
	if q, err := resource.ParseQuantity(m.opts.Mutation.TmpSize); err == nil {
		ed.SizeLimit = &q
	}
	vol := corev1.Volume{Name: TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: ed}}
	path, value := "/spec/volumes/-", any(vol)
	if len(m.pod.Spec.Volumes) == 0 { // an empty list is not in the JSON
		path, value = "/spec/volumes", []corev1.Volume{vol}
	}
	m.pod.Spec.Volumes = append(m.pod.Spec.Volumes, vol)
	m.changed("spec.volumes["+TmpVolume+"]", "emptyDir", path, value)
	return TmpVolume
}
