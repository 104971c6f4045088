package policy

import (
	"encoding/json"
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

// EncodePatch is the JSON patch the mutating webhook sends for ops, written
// by encoding/json, so that whatever a mutation sets can be written
// (mutate_encode_test.go drives every mutation through it). A hand-written
// writer with an allow-list of fields saved 2 to 4 µs a review and did not
// show end to end; it was removed (hack/bench/notes.md).
func EncodePatch(ops []PatchOp) ([]byte, error) { return json.Marshal(ops) }

// Mutation is what Mutate changed: one "field=value" line per setting, for
// people, and the JSON patch that turns the original Pod into the mutated one.
type Mutation struct {
	Changes []string
	Patch   []PatchOp
}

// Mutate fills in pod every safe setting that is unset. It never overwrites
// an explicit value: an explicit violation stays for the validator to
// refuse. All containers get one non-root identity, so they can share
// Kestra's working directory, and root images such as busybox start: the
// configured one, or the non-zero runAsUser/runAsGroup a container sets
// explicitly (see podIdentity). Every container gets the configured env
// (HOME=/tmp) unless it sets those names or has envFrom. A Pod that names a
// ServiceAccount keeps its token when so configured. The patch is built as
// the fields are set, without diffing documents.
func (o *Options) Mutate(pod *corev1.Pod, scope Scope) Mutation {
	return o.mutate(pod, scope, true)
}

// MutatePatch is Mutate without the "field=value" lines (Changes stays nil):
// what the webhook needs in enforce mode, where nobody reads them.
func (o *Options) MutatePatch(pod *corev1.Pod, scope Scope) Mutation {
	return o.mutate(pod, scope, false)
}

func (o *Options) mutate(pod *corev1.Pod, scope Scope, describe bool) Mutation {
	m := mutation{opts: o, pod: pod, describe: describe}
	spec := &pod.Spec
	if scope == ScopePod {
		sc := spec.SecurityContext
		whole := sc == nil
		if whole {
			sc = &corev1.PodSecurityContext{}
			spec.SecurityContext = sc
		}
		user, group, fsGroup := o.podIdentity(spec)
		at := m.at(whole, "/spec/securityContext/")
		m.setBool(&sc.RunAsNonRoot, true, "spec.securityContext", ".runAsNonRoot", at("runAsNonRoot"))
		m.setInt(&sc.RunAsUser, user, "spec.securityContext", ".runAsUser", at("runAsUser"))
		m.setInt(&sc.RunAsGroup, group, "spec.securityContext", ".runAsGroup", at("runAsGroup"))
		m.setInt(&sc.FSGroup, fsGroup, "spec.securityContext", ".fsGroup", at("fsGroup"))
		if sc.SeccompProfile == nil {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			m.changed("spec.securityContext", ".seccompProfile.type", "RuntimeDefault", at("seccompProfile"), sc.SeccompProfile)
		}
		if whole {
			m.add("/spec/securityContext", sc)
		}
		if !o.keepsToken(spec) {
			m.setBool(&spec.AutomountServiceAccountToken, false, "spec", ".automountServiceAccountToken", "/spec/automountServiceAccountToken")
		}
		if t := spec.AutomountServiceAccountToken; t != nil && !*t {
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
	if scope == ScopePod {
		m.startGate() // last: the operations above name init containers by their index before it
	}
	return m.result
}

// GateLabel marks a Pod mutation gave the start gate, so that kestra-guard
// watches only those Pods for a failed gate (an Event, a metric).
const GateLabel = "kestra-guard.io/start-gate"

// gateLabelPath is GateLabel's JSON pointer under /metadata/labels ("/" is "~1").
const gateLabelPath = "/metadata/labels/kestra-guard.io~1start-gate"

// startGate puts the start gate first among the init containers and labels
// the Pod with GateLabel, unless an init container already bears the gate's
// name: the gate itself at index 0 (a reinvoked mutation), or a gate or a
// copy elsewhere (another webhook prepended a container after ours, or the
// Pod brought its own), which start-gate refuses with a message instead of
// a duplicate container name; moving it would let what runs before it run
// ungated.
func (m *mutation) startGate() {
	g := m.opts.Gate
	spec := &m.pod.Spec
	if g == nil || slices.ContainsFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == g.Name }) {
		return
	}
	if _, ok := m.pod.Labels[GateLabel]; !ok {
		if m.pod.Labels == nil {
			m.pod.Labels = map[string]string{}
			m.add("/metadata/labels", json.RawMessage(`{"`+GateLabel+`":"true"}`))
		} else {
			m.add(gateLabelPath, "true")
		}
		m.pod.Labels[GateLabel] = "true"
	}
	path, value := "/spec/initContainers/0", m.opts.gatePatch
	if len(spec.InitContainers) == 0 { // an empty list is not in the JSON
		path, value = "/spec/initContainers", m.opts.gateListPatch
	}
	spec.InitContainers = append([]corev1.Container{*g.DeepCopy()}, spec.InitContainers...)
	m.changed("spec.initContainers[0]", "", g.Name+" (start gate, image "+g.Image+")", path, value)
}

type mutation struct {
	opts   *Options
	pod    *corev1.Pod
	result Mutation
	// describe: build the "field=value" lines of Mutation.Changes.
	describe bool
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

// changed records a change for people (field is parent+suffix, only joined
// when described) and, when path is set, its patch.
func (m *mutation) changed(parent, suffix, shown, path string, value any) {
	if m.describe {
		m.result.Changes = append(m.result.Changes, parent+suffix+"="+shown)
	}
	if path != "" {
		m.add(path, value)
	}
}

func (m *mutation) setBool(p **bool, v bool, parent, suffix, path string) {
	if *p == nil {
		*p = ptr.To(v)
		m.changed(parent, suffix, strconv.FormatBool(v), path, v)
	}
}

func (m *mutation) setInt(p **int64, v int64, parent, suffix, path string) {
	if *p == nil {
		*p = ptr.To(v)
		shown := ""
		if m.describe {
			shown = strconv.FormatInt(v, 10)
		}
		m.changed(parent, suffix, shown, path, v)
	}
}

func (m *mutation) container(c *corev1.Container, list string, i int, mayMountTmp bool) {
	if m.opts.IsGate(c) {
		return // hardened as built; it needs neither /tmp nor the env
	}
	idx := strconv.Itoa(i)
	var field string
	if m.describe {
		field = "spec." + list + "[" + idx + "]"
	}
	base := "/spec/" + list + "/" + idx
	sc := c.SecurityContext
	whole := sc == nil
	if whole {
		sc = &corev1.SecurityContext{}
		c.SecurityContext = sc
	}
	at := m.at(whole, base+"/securityContext/")
	m.setBool(&sc.ReadOnlyRootFilesystem, true, field, ".securityContext.readOnlyRootFilesystem", at("readOnlyRootFilesystem"))
	// The API refuses allowPrivilegeEscalation=false next to privileged or
	// CAP_SYS_ADMIN; those stay for the validator to refuse.
	privileged := sc.Privileged != nil && *sc.Privileged
	if !privileged && (sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Add, "SYS_ADMIN")) {
		m.setBool(&sc.AllowPrivilegeEscalation, false, field, ".securityContext.allowPrivilegeEscalation", at("allowPrivilegeEscalation"))
	}
	switch {
	case sc.Capabilities == nil:
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		m.changed(field, ".securityContext.capabilities.drop", "[ALL]", at("capabilities"), sc.Capabilities)
	case len(sc.Capabilities.Drop) == 0:
		sc.Capabilities.Drop = []corev1.Capability{"ALL"}
		m.changed(field, ".securityContext.capabilities.drop", "[ALL]", m.at(whole, base+"/securityContext/capabilities/")("drop"), sc.Capabilities.Drop)
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
		shown := ""
		if m.describe {
			shown = "emptyDir " + name
		}
		m.changed(field, ".volumeMounts[/tmp]", shown, path, value)
	}
	m.env(c, field, base)
}

// env sets each configured variable the container does not set itself. A
// container with envFrom is left alone: an env entry would override the
// value its ConfigMap or Secret may hold, which mutation cannot see.
func (m *mutation) env(c *corev1.Container, field, base string) {
	if len(c.EnvFrom) > 0 {
		return
	}
	for _, ev := range m.opts.env {
		if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == ev.Name }) {
			continue
		}
		path, value := base+"/env/-", any(ev)
		if len(c.Env) == 0 { // an empty list is not in the JSON
			path, value = base+"/env", []corev1.EnvVar{ev}
		}
		c.Env = append(c.Env, ev)
		suffix := ""
		if m.describe {
			suffix = ".env[" + ev.Name + "]"
		}
		m.changed(field, suffix, ev.Value, path, value)
	}
}

// podIdentity is the user, group and fsGroup mutation fills in at Pod
// level. All containers must share one identity so that the file containers
// and main can write Kestra's working directory (init-files creates it 0755
// as its own uid). When a container sets a non-zero runAsUser or runAsGroup
// explicitly (Kestra's containerSpec example sets runAsUser: 1000 on main),
// the Pod gets that identity so every container that inherits it matches;
// regular containers are looked at first, since they run the user's work.
// An explicit group (Pod or container) is also the fsGroup, so the shared
// volumes are group-writable by it.
func (o *Options) podIdentity(spec *corev1.PodSpec) (user, group, fsGroup int64) {
	user, group, fsGroup = o.Mutation.RunAsUser, o.Mutation.RunAsGroup, o.Mutation.FSGroup
	var foundUser, foundGroup bool
	look := func(u, g *int64) {
		if !foundUser && u != nil && *u > 0 {
			user, foundUser = *u, true
		}
		if !foundGroup && g != nil && *g > 0 {
			group, foundGroup = *g, true
		}
	}
	if sc := spec.SecurityContext; sc != nil {
		look(nil, sc.RunAsGroup)
	}
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			if sc := list[i].SecurityContext; sc != nil {
				look(sc.RunAsUser, sc.RunAsGroup)
			}
		}
	}
	if foundGroup {
		fsGroup = group
	}
	return user, group, fsGroup
}

// keepsToken reports whether the Pod keeps its ServiceAccount token: it
// names a ServiceAccount of its own (a task that calls the API on purpose)
// and the configuration says so.
func (o *Options) keepsToken(spec *corev1.PodSpec) bool {
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = spec.DeprecatedServiceAccount
	}
	return o.Mutation.KeepTokenForServiceAccount && sa != "" && sa != "default"
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
	m.changed("spec.volumes["+TmpVolume+"]", "", "emptyDir", path, value)
	return TmpVolume
}
