package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
)

// psaChecks maps a Pod Security Admission check to the kestra-guard rules
// that cover the same ground: the two must agree on every Pod.
var psaChecks = map[psa.CheckID][]string{
	"hostNamespaces":             {"no-host-network", "no-host-namespaces"},
	"privileged":                 {"no-privileged"},
	"hostPathVolumes":            {"no-host-path"},
	"hostPorts":                  {"no-host-ports"},
	"hostProbesAndHostLifecycle": {"no-host-probes"},
	"allowPrivilegeEscalation":   {"no-privilege-escalation"},
	"capabilities_restricted":    {"drop-all-capabilities"},
	"seccompProfile_restricted":  {"seccomp-profile"},
	"seLinuxOptions":             {"no-unsafe-selinux"},
	"procMount_restricted":       {"no-unmasked-proc"},
	"sysctls":                    {"no-unsafe-sysctls"},
	"appArmorProfile":            {"no-unconfined-apparmor"},
	"windowsHostProcess":         {"no-host-process"},
	// restricted refuses every hostPath too; with no allow-list (the
	// default, as here) no-host-path does the same.
	"restrictedVolumes": {"restricted-volume-types", "no-host-path"},
}

// psaStricterOn lists, per PSA check, when Pod Security admits what
// kestra-guard refuses on purpose: Windows Pods need no seccomp profile,
// allowPrivilegeEscalation or capabilities for PSA (the API refuses those
// fields there, so kestra-guard admits no Windows Pod at all), and a
// Pod in a user namespace (hostUsers: false) may run as UID 0 for PSA;
// kestra-guard asks for both everywhere. A disagreement the other way
// (kestra-guard admits, PSA refuses) is never allowed.
var psaStricterOn = map[psa.CheckID]func(*corev1.Pod) bool{
	"seccompProfile_restricted": isWindows,
	"allowPrivilegeEscalation":  isWindows,
	"capabilities_restricted":   isWindows,
}

func isWindows(p *corev1.Pod) bool { return p.Spec.OS != nil && p.Spec.OS.Name == corev1.Windows }

func inUserNamespace(p *corev1.Pod) bool { return p.Spec.HostUsers != nil && !*p.Spec.HostUsers }

type psaOracle map[psa.CheckID]psa.Evaluator

func newPSAOracle(t *testing.T) psaOracle {
	o := psaOracle{}
	for _, c := range psa.DefaultChecks() {
		e, err := psa.NewEvaluator([]psa.Check{c}, nil)
		if err != nil {
			t.Fatal(err)
		}
		o[c.ID] = e
	}
	return o
}

// allowed reports whether PSA's check id allows pod at restricted/latest.
func (o psaOracle) allowed(id psa.CheckID, pod *corev1.Pod) bool {
	for _, r := range o[id].EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec) {
		if !r.Allowed {
			return false
		}
	}
	return true
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// randomPod draws each security-relevant field from values that pass and
// values that fail, at Pod and container level.
func randomPod(r *rand.Rand) *corev1.Pod {
	boolPtr := func() *bool { return pick(r, nil, ptr.To(true), ptr.To(false)) }
	uid := func() *int64 { return pick(r, nil, ptr.To[int64](0), ptr.To[int64](1000)) }
	seccomp := func() *corev1.SeccompProfile {
		return pick(r, nil, &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			&corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("p.json")},
			&corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined})
	}
	seLinux := func() *corev1.SELinuxOptions {
		if r.IntN(3) > 0 {
			return nil
		}
		return pick(r, &corev1.SELinuxOptions{Type: "container_t"}, &corev1.SELinuxOptions{Type: "spc_t"}, &corev1.SELinuxOptions{Type: "container_engine_t"},
			&corev1.SELinuxOptions{User: "system_u"}, &corev1.SELinuxOptions{Role: "sysadm_r"}, &corev1.SELinuxOptions{Level: "s0:c1,c2"})
	}
	procMount := func() *corev1.ProcMountType {
		return pick(r, nil, nil, nil, ptr.To(corev1.DefaultProcMount), ptr.To(corev1.UnmaskedProcMount), ptr.To(corev1.ProcMountType("Other")))
	}
	appArmor := func() *corev1.AppArmorProfile {
		return pick(r, nil, nil, nil, &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault},
			&corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("p")},
			&corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined})
	}
	windows := func() *corev1.WindowsSecurityContextOptions {
		return pick(r, nil, nil, nil, &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)},
			&corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(false)}, &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr.To("x")})
	}
	container := func(name string) corev1.Container {
		c := corev1.Container{Name: name, Image: "busybox"}
		if r.IntN(5) > 0 {
			c.SecurityContext = &corev1.SecurityContext{
				Privileged: boolPtr(), AllowPrivilegeEscalation: boolPtr(), RunAsNonRoot: boolPtr(), RunAsUser: uid(),
				SeccompProfile: seccomp(), ReadOnlyRootFilesystem: ptr.To(true),
				SELinuxOptions: seLinux(), ProcMount: procMount(), AppArmorProfile: appArmor(), WindowsOptions: windows(),
			}
			if r.IntN(4) > 0 {
				c.SecurityContext.Capabilities = &corev1.Capabilities{
					Drop: pick(r, nil, []corev1.Capability{"ALL"}, []corev1.Capability{"NET_RAW"}),
					Add:  pick(r, nil, []corev1.Capability{"NET_BIND_SERVICE"}, []corev1.Capability{"SYS_ADMIN"}, []corev1.Capability{"CHOWN"}),
				}
			}
		}
		if r.IntN(6) == 0 {
			probeHost := pick(r, "", "169.254.169.254", "localhost")
			get := func() *corev1.HTTPGetAction {
				return &corev1.HTTPGetAction{Host: pick(r, "", probeHost), Port: intstr.FromInt32(80)}
			}
			tcp := func() *corev1.TCPSocketAction {
				return &corev1.TCPSocketAction{Host: pick(r, "", probeHost), Port: intstr.FromInt32(80)}
			}
			probe := func() *corev1.Probe {
				return pick(r, nil, &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: get()}},
					&corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: tcp()}})
			}
			hook := func() *corev1.LifecycleHandler {
				return pick(r, nil, &corev1.LifecycleHandler{HTTPGet: get()}, &corev1.LifecycleHandler{TCPSocket: tcp()})
			}
			c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = probe(), probe(), probe()
			c.Lifecycle = &corev1.Lifecycle{PostStart: hook(), PreStop: hook()}
		}
		if r.IntN(6) == 0 {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: pick[int32](r, 0, 8080)}}
		}
		return c
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: r.IntN(8) == 0, HostPID: r.IntN(8) == 0, HostIPC: r.IntN(8) == 0}}
	if r.IntN(4) > 0 {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: boolPtr(), RunAsUser: uid(), SeccompProfile: seccomp(),
			SELinuxOptions: seLinux(), AppArmorProfile: appArmor(), WindowsOptions: windows()}
		if r.IntN(4) == 0 {
			p.Spec.SecurityContext.Sysctls = pick(r, []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65000"}},
				[]corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}, []corev1.Sysctl{{Name: "net/ipv4/tcp_syncookies", Value: "1"}})
		}
	}
	if r.IntN(8) == 0 {
		p.Spec.HostUsers = ptr.To(r.IntN(2) == 0)
	}
	if r.IntN(12) == 0 {
		p.Spec.OS = &corev1.PodOS{Name: pick(r, corev1.Linux, corev1.Windows)}
	}
	if r.IntN(6) == 0 {
		p.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + pick(r, "c0", "nobody"): pick(r, "runtime/default", "localhost/p", "unconfined", "")}
	}
	for i := range r.IntN(2) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, container(fmt.Sprintf("init%d", i)))
	}
	for i := range 1 + r.IntN(2) {
		p.Spec.Containers = append(p.Spec.Containers, container(fmt.Sprintf("c%d", i)))
	}
	if r.IntN(5) == 0 {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(container("debug"))}}
	}
	for i := range r.IntN(3) {
		src := pick(r,
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pick(r, "/var/run/docker.sock", "/data", "//etc/../")}},
			corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}},
			corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}},
			corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "busybox"}},
			corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}},
			corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.2", Path: "/"}},
			corev1.VolumeSource{CephFS: &corev1.CephFSVolumeSource{}},
			corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}},
			corev1.VolumeSource{},
		)
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: src})
	}
	return p
}

// For the checks both cover, kestra-guard and Pod Security Admission
// (restricted, latest) decide every Pod of a generated corpus alike; for
// run-as-non-root, a Pod PSA admits on runAsNonRoot and runAsUser is
// admitted, and a Pod PSA refuses on runAsUser (UID 0) is refused.
func TestDifferentialAgainstPodSecurityAdmission(t *testing.T) {
	oracle := newPSAOracle(t)
	e := testEngine(t, func(c *Config) { c.Rules = nil })
	r := rand.New(rand.NewPCG(1, 2))
	disagreements := 0
	for n := range 5000 {
		pod := randomPod(r)
		broken := map[string]bool{}
		for _, v := range e.Evaluate(&Input{Pod: pod}).Violations {
			broken[v.Rule] = true
		}
		for id, rules := range psaChecks {
			ours := !slices.ContainsFunc(rules, func(r string) bool { return broken[r] })
			theirs := oracle.allowed(id, pod)
			if stricter := psaStricterOn[id]; stricter != nil && stricter(pod) && theirs && !ours {
				continue
			}
			if ours != theirs {
				disagreements++
				if disagreements < 5 {
					t.Errorf("pod %d: PSA %s allowed=%v, kestra-guard %v allowed=%v", n, id, theirs, rules, ours)
				}
			}
		}
		nonRoot, user := oracle.allowed("runAsNonRoot", pod), oracle.allowed("runAsUser", pod)
		if nonRoot && user && broken["run-as-non-root"] && !inUserNamespace(pod) {
			t.Errorf("pod %d: PSA admits it as non-root, kestra-guard refuses", n)
		}
		if !user && !broken["run-as-non-root"] {
			t.Errorf("pod %d: PSA refuses runAsUser 0, kestra-guard admits", n)
		}
	}
	if disagreements > 0 {
		t.Errorf("%d disagreements in all", disagreements)
	}
}
