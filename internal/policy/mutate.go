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

// Mutate fills in pod every safe setting that is unset, and returns the
// changes as "field=value" lines (nil when nothing changed). It never
// overwrites an explicit value: an explicit violation stays for the
// validator to refuse. All containers get one non-root identity, so they
// can share Kestra's working directory, and root images such as busybox start.
func (o *Options) Mutate(pod *corev1.Pod, scope Scope) []string {
	m := mutation{opts: o, pod: pod}
	spec := &pod.Spec
	if scope == ScopePod {
		if spec.SecurityContext == nil {
			spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		sc := spec.SecurityContext
		m.setBool(&sc.RunAsNonRoot, true, "spec.securityContext.runAsNonRoot")
		m.setInt(&sc.RunAsUser, o.Mutation.RunAsUser, "spec.securityContext.runAsUser")
		m.setInt(&sc.RunAsGroup, o.Mutation.RunAsGroup, "spec.securityContext.runAsGroup")
		m.setInt(&sc.FSGroup, o.Mutation.FSGroup, "spec.securityContext.fsGroup")
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			m.changed("spec.securityContext.seccompProfile.type", "RuntimeDefault")
		}
		m.setBool(&spec.AutomountServiceAccountToken, false, "spec.automountServiceAccountToken")
		for i := range spec.InitContainers {
			m.container(&spec.InitContainers[i], "spec.initContainers["+strconv.Itoa(i)+"]", true)
		}
		for i := range spec.Containers {
			m.container(&spec.Containers[i], "spec.containers["+strconv.Itoa(i)+"]", true)
		}
	}
	for i := range spec.EphemeralContainers {
		c := (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon)
		m.container(c, "spec.ephemeralContainers["+strconv.Itoa(i)+"]", scope == ScopePod || m.hasTmpVolume())
	}
	return m.changes
}

type mutation struct {
	opts    *Options
	pod     *corev1.Pod
	changes []string
}

func (m *mutation) changed(field, value string) {
	m.changes = append(m.changes, field+"="+value)
}

func (m *mutation) setBool(p **bool, v bool, field string) {
	if *p == nil {
		*p = ptr.To(v)
		m.changed(field, strconv.FormatBool(v))
	}
}

func (m *mutation) setInt(p **int64, v int64, field string) {
	if *p == nil {
		*p = ptr.To(v)
		m.changed(field, strconv.FormatInt(v, 10))
	}
}

func (m *mutation) container(c *corev1.Container, path string, mayMountTmp bool) {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	sc := c.SecurityContext
	m.setBool(&sc.ReadOnlyRootFilesystem, true, path+".securityContext.readOnlyRootFilesystem")
	// The API refuses allowPrivilegeEscalation=false next to privileged or
	// CAP_SYS_ADMIN; those stay for the validator to refuse.
	privileged := sc.Privileged != nil && *sc.Privileged
	if !privileged && (sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Add, "SYS_ADMIN")) {
		m.setBool(&sc.AllowPrivilegeEscalation, false, path+".securityContext.allowPrivilegeEscalation")
	}
	if sc.Capabilities == nil {
		sc.Capabilities = &corev1.Capabilities{}
	}
	if len(sc.Capabilities.Drop) == 0 {
		sc.Capabilities.Drop = []corev1.Capability{"ALL"}
		m.changed(path+".securityContext.capabilities.drop", "[ALL]")
	}
	if *sc.ReadOnlyRootFilesystem && mayMountTmp && !mountsAt(c, "/tmp") {
		name := m.tmpVolume()
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/tmp"})
		m.changed(path+".volumeMounts[/tmp]", "emptyDir "+name)
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
	m.pod.Spec.Volumes = append(m.pod.Spec.Volumes, corev1.Volume{Name: TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: ed}})
	m.changed("spec.volumes["+TmpVolume+"]", "emptyDir")
	return TmpVolume
}
