package policy

import (
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// minimalPod passes every rule: the shape of a hardened Kestra task runner.
func minimalPod() *corev1.Pod {
	sc := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "kestra", Labels: map[string]string{"kestra.io/taskrun-id": "1"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers: []corev1.Container{{Name: "init-files", Image: "busybox", SecurityContext: sc()}},
			Containers: []corev1.Container{
				{Name: "main", Image: "python:3", Command: []string{"python", "-c", "print(1)"}, SecurityContext: sc(),
					Env: []corev1.EnvVar{{Name: "URL", Value: "https://api.example.com"}}},
				{Name: "out-files", Image: "busybox", SecurityContext: sc()},
			},
			Volumes: []corev1.Volume{{Name: "kestra-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// blockingPolicy is what kestra-guard's managed policy does: allow egress
// everywhere but the metadata ranges (the defaults, with the NAT64 images
// of the IPv4 ones).
func blockingPolicy() networkingv1.NetworkPolicy {
	v4 := &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}
	v6 := &networkingv1.IPBlock{CIDR: "::/0"}
	for _, p := range MetadataRanges(DefaultMetadataCIDRs) {
		if p.Addr().Is4() {
			v4.Except = append(v4.Except, p.String())
		} else {
			v6.Except = append(v6.Except, p.String())
		}
	}
	return networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "block-metadata", Namespace: "kestra"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: v4}, {IPBlock: v6}}}},
		},
	}
}

func tweak(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	p = p.DeepCopy()
	f(p)
	return p
}

func testEngine(t testing.TB, mod func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Rules = map[string]Action{"allowed-registries": Deny}
	cfg.AllowedRegistries = []string{"docker.io/library", "ghcr.io/kestra-io"}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func evaluate(e *Engine, p *corev1.Pod, pols ...networkingv1.NetworkPolicy) Result {
	if pols == nil {
		pols = []networkingv1.NetworkPolicy{blockingPolicy()}
	}
	return e.Evaluate(&Input{Pod: p, NetworkPolicies: pols, NetworkPoliciesKnown: true})
}

type ruleCase struct {
	name   string
	rule   string   // the rule expected to fail, "" when the Pod passes
	field  string   // the field path expected in the violation
	detail string   // a fragment the detail must contain
	also   []string // further rules the same tweak breaks
	config func(*Config)
	pod    *corev1.Pod
}

var sysAdmin = []corev1.Capability{"SYS_ADMIN"}

// gateImage is outside the test engine's allowed registries: the gate's
// image is the operator's choice, not the flow author's.
const gateImage = "registry.example.com/kestra-guard@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// withGate turns the start gate on, with the default endpoints (which name
// metadata addresses in the gate's arguments).
func withGate(c *Config) { c.StartGate.Enabled, c.StartGate.Image = true, gateImage }

// gated puts the start gate first, as mutation does.
func gated(p *corev1.Pod) *corev1.Pod {
	cfg := DefaultConfig()
	withGate(&cfg)
	e, err := NewEngine(cfg)
	if err != nil {
		panic(err)
	}
	return tweak(p, func(p *corev1.Pod) {
		p.Spec.InitContainers = append([]corev1.Container{*e.Options().Gate}, p.Spec.InitContainers...)
	})
}

func ruleCases() []ruleCase {
	p := minimalPod()
	return []ruleCase{
		{name: "minimal pod passes", pod: p},
		// run-as-non-root
		{name: "non-zero runAsUser without runAsNonRoot passes", rule: "", pod: tweak(p, func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil })},
		{name: "container runAsNonRoot alone passes", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot, p.Spec.SecurityContext.RunAsUser = nil, nil
			for i := range p.Spec.InitContainers {
				p.Spec.InitContainers[i].SecurityContext.RunAsNonRoot = ptr.To(true)
			}
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].SecurityContext.RunAsNonRoot = ptr.To(true)
			}
		})},
		{name: "nothing set", rule: "run-as-non-root", field: "spec.initContainers[0].securityContext.runAsNonRoot", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot, p.Spec.SecurityContext.RunAsUser = nil, nil
		})},
		{name: "pod runAsUser 0", rule: "run-as-non-root", field: "spec.securityContext.runAsUser", detail: "runAsUser=0", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		})},
		{name: "container runAsUser 0 overrides safe pod", rule: "run-as-non-root", field: "spec.containers[1].securityContext.runAsUser", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.RunAsUser = ptr.To[int64](0)
		})},
		{name: "init container runAsNonRoot false", rule: "run-as-non-root", field: "spec.initContainers[0].securityContext.runAsNonRoot", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.RunAsNonRoot = ptr.To(false)
		})},
		{name: "ephemeral container as root", rule: "run-as-non-root", field: "spec.ephemeralContainers[0].securityContext.runAsUser", pod: tweak(p, func(p *corev1.Pod) {
			ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(*p.Spec.Containers[0].DeepCopy())}
			ec.Name = "debug"
			ec.SecurityContext.RunAsUser = ptr.To[int64](0)
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
		})},
		// read-only-root-filesystem
		{name: "sidecar writable", rule: "read-only-root-filesystem", field: "spec.containers[1].securityContext.readOnlyRootFilesystem", detail: `"out-files"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		})},
		{name: "init unset", rule: "read-only-root-filesystem", field: "spec.initContainers[0].securityContext.readOnlyRootFilesystem", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.ReadOnlyRootFilesystem = nil
		})},
		// no-host-path
		{name: "docker socket", rule: "no-host-path", field: "spec.volumes[1].hostPath.path", detail: "is /var/run/docker.sock", pod: withHostPath(p, "/var/run/docker.sock", false)},
		{name: "socket with path tricks", rule: "no-host-path", field: "spec.volumes[1].hostPath.path", detail: "is /var/run/docker.sock", pod: withHostPath(p, "//var/./run/../run/docker.sock/", false)},
		{name: "parent of the socket", rule: "no-host-path", field: "spec.volumes[1].hostPath.path", detail: "contains /var/run/docker.sock", pod: withHostPath(p, "/var/run", false)},
		{name: "/run holds the socket too", rule: "no-host-path", detail: "contains /run/containerd/containerd.sock", pod: withHostPath(p, "/run", false)},
		{name: "root of the node", rule: "no-host-path", detail: "the whole node filesystem", pod: withHostPath(p, "/", false)},
		{name: "unmounted hostPath still refused", rule: "no-host-path", detail: "/data", pod: withHostPath(p, "/data", false)},
		{name: "allow-listed read-only passes", config: allow("/var/log"), pod: withHostPath(p, "/var/log/pods", true)},
		{name: "allow-listed but writable", rule: "no-host-path", field: "spec.containers[0].volumeMounts[0].readOnly", config: allow("/var/log"), pod: withHostPath(p, "/var/log", false)},
		{name: "allowed path never admits its parent", rule: "no-host-path", config: allow("/var/log"), pod: withHostPath(p, "/var", true)},
		{name: "allowed path escaped with ..", rule: "no-host-path", detail: "/etc/kubernetes", config: allow("/var/log"), pod: withHostPath(p, "/var/log/../../etc/kubernetes", true)},
		// no-host-network
		{name: "host network", rule: "no-host-network", field: "spec.hostNetwork", also: []string{"metadata-egress-blocked"}, pod: tweak(p, func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		// metadata-egress-blocked
		{name: "no policy selects the pod", rule: "metadata-egress-blocked", detail: "no NetworkPolicy with Egress", pod: tweak(p, func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"}; p.Namespace = "other" })},
		// no-host-namespaces
		{name: "host PID", rule: "no-host-namespaces", field: "spec.hostPID", pod: tweak(p, func(p *corev1.Pod) { p.Spec.HostPID = true })},
		{name: "host IPC", rule: "no-host-namespaces", field: "spec.hostIPC", pod: tweak(p, func(p *corev1.Pod) { p.Spec.HostIPC = true })},
		// no-privileged
		{name: "privileged sidecar", rule: "no-privileged", field: "spec.containers[1].securityContext.privileged", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.Privileged = ptr.To(true)
		})},
		// no-privilege-escalation
		{name: "escalation allowed", rule: "no-privilege-escalation", field: "spec.containers[0].securityContext.allowPrivilegeEscalation", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		})},
		// drop-all-capabilities
		{name: "NET_BIND_SERVICE may be added", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
		})},
		{name: "SYS_ADMIN added", rule: "drop-all-capabilities", field: "spec.containers[0].securityContext.capabilities.add[0]", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = sysAdmin
		})},
		{name: "nothing dropped", rule: "drop-all-capabilities", field: "spec.initContainers[0].securityContext.capabilities.drop", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.Capabilities = nil
		})},
		// seccomp-profile
		{name: "unconfined at container level", rule: "seccomp-profile", field: "spec.containers[0].securityContext.seccompProfile.type", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		})},
		{name: "no profile", rule: "seccomp-profile", field: "spec.initContainers[0].securityContext.seccompProfile.type", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = nil
		})},
		// no-host-ports
		{name: "host port", rule: "no-host-ports", field: "spec.containers[0].ports[0].hostPort", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		})},
		// no-host-probes
		{name: "liveness httpGet to IMDS", rule: "no-host-probes", field: "spec.containers[0].livenessProbe.httpGet.host", detail: `"169.254.169.254"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "169.254.169.254", Path: "/latest/meta-data/iam/security-credentials/", Port: intstr.FromInt32(80)}}}
		})},
		{name: "readiness tcpSocket host", rule: "no-host-probes", field: "spec.containers[1].readinessProbe.tcpSocket.host", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "10.0.0.1", Port: intstr.FromInt32(6443)}}}
		})},
		{name: "startup probe host on an init container", rule: "no-host-probes", field: "spec.initContainers[0].startupProbe.httpGet.host", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "metadata.google.internal", Port: intstr.FromInt32(80)}}}
		})},
		{name: "postStart hook host", rule: "no-host-probes", field: "spec.containers[0].lifecycle.postStart.httpGet.host", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: "169.254.170.2", Port: intstr.FromInt32(80)}}}
		})},
		{name: "preStop hook tcpSocket host", rule: "no-host-probes", field: "spec.containers[0].lifecycle.preStop.tcpSocket.host", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Host: "localhost", Port: intstr.FromInt32(10250)}}}
		})},
		{name: "ephemeral container probe host", rule: "no-host-probes", field: "spec.ephemeralContainers[0].livenessProbe.httpGet.host", pod: tweak(p, func(p *corev1.Pod) {
			ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(*p.Spec.Containers[0].DeepCopy())}
			ec.Name = "debug"
			ec.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "169.254.169.254", Port: intstr.FromInt32(80)}}}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
		})},
		{name: "probes and hooks without host pass", pod: tweak(p, func(p *corev1.Pod) {
			get := &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "example.com"}}}
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: get}}
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: get.DeepCopy()}}
		})},
		// no-unsafe-selinux
		{name: "SELinux spc_t on the Pod", rule: "no-unsafe-selinux", field: "spec.securityContext.seLinuxOptions.type", detail: `"spc_t"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
		})},
		{name: "SELinux custom user on a container", rule: "no-unsafe-selinux", field: "spec.containers[0].securityContext.seLinuxOptions.user", detail: `"system_u"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{User: "system_u"}
		})},
		{name: "SELinux custom role on an init container", rule: "no-unsafe-selinux", field: "spec.initContainers[0].securityContext.seLinuxOptions.role", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Role: "sysadm_r"}
		})},
		{name: "SELinux container type and level pass", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Level: "s0:c123,c456"}
			p.Spec.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "container_engine_t"}
		})},
		// no-unmasked-proc
		{name: "unmasked proc", rule: "no-unmasked-proc", field: "spec.containers[0].securityContext.procMount", detail: `"Unmasked"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		})},
		{name: "unmasked proc even in a user namespace", rule: "no-unmasked-proc", field: "spec.initContainers[0].securityContext.procMount", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr.To(false)
			p.Spec.InitContainers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		})},
		{name: "default proc mount passes", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.DefaultProcMount)
		})},
		// no-unsafe-sysctls
		{name: "unsafe sysctl", rule: "no-unsafe-sysctls", field: "spec.securityContext.sysctls[1].name", detail: `"kernel.msgmax"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65000"}, {Name: "kernel.msgmax", Value: "65536"}}
		})},
		{name: "safe sysctls pass", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}, {Name: "net.ipv4.tcp_keepalive_time", Value: "60"}}
		})},
		// no-unconfined-apparmor
		{name: "AppArmor Unconfined on a container", rule: "no-unconfined-apparmor", field: "spec.containers[1].securityContext.appArmorProfile.type", detail: `"Unconfined"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		})},
		{name: "AppArmor Unconfined on the Pod", rule: "no-unconfined-apparmor", field: "spec.securityContext.appArmorProfile.type", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		})},
		{name: "AppArmor unconfined annotation", rule: "no-unconfined-apparmor", field: "metadata.annotations[container.apparmor.security.beta.kubernetes.io/main]", detail: `"unconfined"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
		})},
		{name: "AppArmor runtime default and localhost pass", pod: tweak(p, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/main": "runtime/default", "container.apparmor.security.beta.kubernetes.io/out-files": "localhost/k8s-task"}
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
			p.Spec.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("k8s-task")}
		})},
		// no-host-process
		{name: "Windows hostProcess on the Pod", rule: "no-host-process", field: "spec.securityContext.windowsOptions.hostProcess", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
		})},
		{name: "Windows hostProcess on a container", rule: "no-host-process", field: "spec.containers[0].securityContext.windowsOptions.hostProcess", detail: `"main"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
		})},
		// restricted-volume-types
		{name: "gitRepo volume", rule: "restricted-volume-types", field: "spec.volumes[1].gitRepo", detail: `"repo"`, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "repo", VolumeSource: corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Repository: "https://example.com/x.git"}}})
		})},
		{name: "nfs volume", rule: "restricted-volume-types", field: "spec.volumes[1].nfs", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.2", Path: "/"}}})
		})},
		{name: "cephfs next to an allowed source", rule: "restricted-volume-types", field: "spec.volumes[0].cephfs", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes[0].CephFS = &corev1.CephFSVolumeSource{Monitors: []string{"10.0.0.3"}}
		})},
		{name: "volume with no known source", rule: "restricted-volume-types", field: "spec.volumes[0]", detail: "no volume source", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes[0].EmptyDir = nil
		})},
		{name: "restricted volume types pass", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes,
				corev1.Volume{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}},
				corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}},
				corev1.Volume{Name: "pvc", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "x"}}},
				corev1.Volume{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "x"}}},
				corev1.Volume{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				corev1.Volume{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}},
				corev1.Volume{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "docker.io/library/busybox"}}},
			)
		})},
		// no-service-account-token
		{name: "token mounted", rule: "no-service-account-token", field: "spec.automountServiceAccountToken", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.AutomountServiceAccountToken = ptr.To(true)
		})},
		{name: "injected token still mounted though the flag is off", rule: "no-service-account-token", field: "spec.volumes[1].projected.sources[0].serviceAccountToken", pod: tweak(p, injectedToken("kube-api-access-abcde"))},
		{name: "token for kubeadm's API audience", rule: "no-service-account-token", field: "spec.volumes[1].projected.sources[0].serviceAccountToken.audience", detail: "https://kubernetes.default.svc.cluster.local", pod: tweak(p, audienceToken("https://kubernetes.default.svc.cluster.local"))},
		{name: "token for EKS's API audience", rule: "no-service-account-token", field: "spec.volumes[1].projected.sources[0].serviceAccountToken.audience", detail: "https://kubernetes.default.svc", pod: tweak(p, audienceToken("https://kubernetes.default.svc"))},
		{name: "token for a configured API audience", rule: "no-service-account-token", field: "spec.volumes[1].projected.sources[0].serviceAccountToken.audience", detail: gkeIssuer,
			config: func(c *Config) { c.APIAudiences = []string{gkeIssuer} }, pod: tweak(p, audienceToken(gkeIssuer))},
		{name: "token with no audience whatever apiAudiences says", rule: "no-service-account-token", field: "spec.volumes[1].projected.sources[0].serviceAccountToken",
			config: func(c *Config) { c.APIAudiences = nil }, pod: tweak(p, audienceToken(""))},
		{name: "token for an audience the API server does not accept", rule: "no-cloud-identity", field: "spec.volumes[1].projected.sources[0].serviceAccountToken.audience", detail: "vault", pod: tweak(p, audienceToken("vault"))},
		{name: "token volume not mounted passes", pod: tweak(p, func(p *corev1.Pod) {
			injectedToken("kube-api-access-abcde")(p)
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					cs[i].VolumeMounts = nil
				}
			}
		})},
		// no-cloud-identity
		{name: "IRSA env", rule: "no-cloud-identity", field: "spec.containers[0].env[1].name", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"})
		})},
		{name: "projected token for a cloud audience", rule: "no-cloud-identity", field: "spec.volumes[1].projected.sources[0].serviceAccountToken.audience", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "sts.amazonaws.com", Path: "token"}}}}}})
		})},
		// no-metadata-address
		{name: "curl to IMDS in args", rule: "no-metadata-address", field: "spec.containers[0].args[1]", detail: "169.254.169.254", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Args = []string{"-c", "curl -s http://0xa9fea9fe/latest/meta-data/iam/"}
		})},
		{name: "GCP name in env", rule: "no-metadata-address", field: "spec.containers[0].env[0].value", detail: "metadata.google.internal", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].Value = "http://Metadata.Google.Internal./computeMetadata/v1/"
		})},
		{name: "exec liveness probe to IMDS", rule: "no-metadata-address", field: "spec.containers[0].livenessProbe.exec.command[1]", detail: "169.254.169.254", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"curl", "http://169.254.169.254/latest/meta-data/iam/"}}}}
		})},
		{name: "exec readiness probe to ECS credentials", rule: "no-metadata-address", field: "spec.initContainers[0].readinessProbe.exec.command[2]", detail: "169.254.170.2", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "wget -qO- 169.254.170.2/v2/credentials"}}}}
		})},
		{name: "exec startup probe to GCP", rule: "no-metadata-address", field: "spec.containers[1].startupProbe.exec.command[0]", detail: "metadata.google.internal", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[1].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"http://metadata.google.internal/computeMetadata/v1/"}}}}
		})},
		{name: "postStart hook to IMDS", rule: "no-metadata-address", field: "spec.containers[0].lifecycle.postStart.exec.command[2]", detail: "169.254.169.254", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "curl -s http://2852039166/ > /tmp/creds"}}}}
		})},
		{name: "preStop hook to IMDS", rule: "no-metadata-address", field: "spec.containers[0].lifecycle.preStop.exec.command[1]", detail: "169.254.169.254", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"curl", "http://[::ffff:169.254.169.254]/"}}}}
		})},
		{name: "host alias to a metadata address", rule: "no-metadata-address", field: "spec.hostAliases[1].ip", detail: "169.254.169.254", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.7", Hostnames: []string{"db"}}, {IP: "169.254.169.254", Hostnames: []string{"api.example.com"}}}
		})},
		{name: "exec probes and host aliases elsewhere pass", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "kill 1"}}}}
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.7", Hostnames: []string{"db", "metadata.google.internal"}}}
		})},
		// A container named like the gate that differs from it in any field
		// is not the gate: its arguments and image are judged as any other's.
		{name: "a copy of the gate with a probe to IMDS", rule: "start-gate", detail: "named like the start gate but differs", also: []string{"no-metadata-address", "allowed-registries"}, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"curl", "http://169.254.169.254/"}}}}
		})},
		{name: "a copy of the gate made a sidecar", rule: "start-gate", detail: "named like the start gate but differs", also: []string{"no-metadata-address", "allowed-registries"}, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		})},
		{name: "a copy of the gate with a volume over its binary", rule: "start-gate", detail: "named like the start gate but differs", also: []string{"no-metadata-address", "allowed-registries"}, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra-guard", SubPath: "payload"}}
		})},
		{name: "an ephemeral container while the gate runs", rule: "start-gate", field: "spec.ephemeralContainers[0]", detail: "ended with exit code 0", config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox",
				SecurityContext: p.Spec.Containers[0].SecurityContext.DeepCopy(), VolumeMounts: p.Spec.Containers[0].VolumeMounts}}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: GateContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		})},
		{name: "an ephemeral container once the gate passed", config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox",
				SecurityContext: p.Spec.Containers[0].SecurityContext.DeepCopy(), VolumeMounts: p.Spec.Containers[0].VolumeMounts}}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: GateContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
		})},
		{name: "the gate as the API server stores it", config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].TerminationMessagePath = corev1.TerminationMessagePathDefault
		})},
		// start-gate
		{name: "the gate first passes", config: withGate, pod: gated(p)},
		{name: "no gate", rule: "start-gate", field: "spec.initContainers[0]", detail: `the first init container is "init-files"`, config: withGate, pod: p},
		{name: "gate after another init container", rule: "start-gate", field: "spec.initContainers[0]", detail: `the first init container is "init-files"`, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0], p.Spec.InitContainers[1] = p.Spec.InitContainers[1], p.Spec.InitContainers[0]
		})},
		{name: "gate with other arguments", rule: "start-gate", field: "spec.initContainers[0]", also: []string{"no-metadata-address", "allowed-registries"}, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Args = append(p.Spec.InitContainers[0].Args, "--timeout=0s")
		})},
		{name: "gate with another image", rule: "start-gate", field: "spec.initContainers[0]", also: []string{"no-metadata-address", "allowed-registries"}, config: withGate, pod: tweak(gated(p), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Image = "evil.example.com/kestra-guard:latest"
		})},
		{name: "no init container at all", rule: "start-gate", field: "spec.initContainers[0]", detail: "the Pod has no init container", config: withGate, pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.InitContainers = nil
		})},
		// allowed-registries
		{name: "image from an unknown registry", rule: "allowed-registries", field: "spec.containers[0].image", detail: "evil.example.com/x", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "evil.example.com/x:1"
		})},
		{name: "image volume from an unknown registry", rule: "allowed-registries", field: "spec.volumes[1].image.reference", detail: "evil.example.com/data", pod: tweak(p, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "evil.example.com/data:1"}}})
		})},
		{name: "image from an allowed prefix", pod: tweak(p, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "ghcr.io/kestra-io/kestra:latest" })},
	}
}

// gkeIssuer is the shape of a GKE cluster's issuer, its API audience.
const gkeIssuer = "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c"

// audienceToken mounts a projected token for audience in the main container.
func audienceToken(audience string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "api-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: audience, Path: "token"}}}}}})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "api-token", MountPath: "/var/run/secrets/tokens", ReadOnly: true})
	}
}

func withHostPath(p *corev1.Pod, path string, readOnly bool) *corev1.Pod {
	return tweak(p, func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: readOnly})
	})
}

func allow(paths ...string) func(*Config) {
	return func(c *Config) { c.HostPathAllowList = paths }
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(testEngine(t, tc.config), tc.pod)
			if tc.rule == "" {
				if len(res.Violations) != 0 {
					t.Fatalf("want no violation, got %v", res.Violations)
				}
				return
			}
			i := slices.IndexFunc(res.Violations, func(v Violation) bool { return v.Rule == tc.rule })
			if i < 0 {
				t.Fatalf("want a %s violation, got %v", tc.rule, res.Violations)
			}
			for _, v := range res.Violations {
				if v.Rule != tc.rule && !slices.Contains(tc.also, v.Rule) {
					t.Errorf("one tweak should break one rule, also got %v", v)
				}
			}
			v := res.Violations[i]
			if tc.field != "" && v.Field != tc.field {
				t.Errorf("field = %q, want %q", v.Field, tc.field)
			}
			if !strings.Contains(v.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to mention %q", v.Detail, tc.detail)
			}
			if v.Reason == "" || v.Action == "" {
				t.Errorf("violation lacks a reason or action: %+v", v)
			}
		})
	}
}

// Every rule has a passing case (the minimal Pod passes them all) and at
// least one failing case.
func TestEveryRuleHasFailingCase(t *testing.T) {
	failing := map[string]bool{}
	for _, tc := range ruleCases() {
		failing[tc.rule] = true
	}
	failing["metadata-egress-blocked"] = failing["metadata-egress-blocked"] && len(egressCases()) > 0
	for _, r := range Rules {
		if !failing[r.ID] {
			t.Errorf("rule %s has no failing case in ruleCases", r.ID)
		}
	}
	if !failing[""] {
		t.Error("ruleCases has no passing case")
	}
}

func TestActions(t *testing.T) {
	bad := tweak(minimalPod(), func(p *corev1.Pod) { p.Spec.HostNetwork = true })
	for action, denied := range map[Action]bool{Deny: true, Warn: false} {
		e := testEngine(t, func(c *Config) {
			c.Rules = map[string]Action{"no-host-network": action, "metadata-egress-blocked": Off}
		})
		res := evaluate(e, bad)
		if res.Denied() != denied || len(res.Violations) != 1 || res.Violations[0].Action != action {
			t.Errorf("action %s: denied=%v violations=%v", action, res.Denied(), res.Violations)
		}
	}
	e := testEngine(t, func(c *Config) { c.Rules = map[string]Action{"no-host-network": Off, "metadata-egress-blocked": Off} })
	if res := evaluate(e, bad); res.Violations != nil {
		t.Errorf("rule off: got %v", res.Violations)
	}
}

func TestEgressNotEvaluatedWithoutPolicies(t *testing.T) {
	res := testEngine(t, nil).Evaluate(&Input{Pod: minimalPod()})
	if len(res.Violations) != 0 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "metadata-egress-blocked: not evaluated") {
		t.Errorf("got violations %v, notes %v", res.Violations, res.Notes)
	}
}

func TestNilPodIsDenied(t *testing.T) {
	for _, in := range []*Input{nil, {}} {
		if res := testEngine(t, nil).Evaluate(in); !res.Denied() {
			t.Errorf("input %+v: want denied, got %v", in, res)
		}
	}
}

func TestConfigValidateListsEveryError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rules = map[string]Action{"no-such-rule": Deny, "no-host-path": "block"}
	cfg.HostPathAllowList = []string{"var/log"}
	cfg.MetadataCIDRs = []string{"169.254.0.0/16", "169.254.1"}
	cfg.Mutation.RunAsUser = 0
	cfg.Mutation.TmpSize = "lots"
	cfg.APIAudiences = []string{"api", " https://kubernetes.default.svc"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"rules.no-such-rule: unknown rule ID", `rules.no-host-path: action "block"`, "hostPathAllowList[0]", "metadataCIDRs[1]", "mutation.runAsUser", "mutation.tmpSize", "apiAudiences[1]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A fragment (a flow's pod overlay) is checked for explicit dangerous values
// only: what mutation fills in is not its business.
func TestFragment(t *testing.T) {
	e := testEngine(t, nil)
	empty := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "docker.io/library/python"}}}}
	if res := e.Evaluate(&Input{Pod: empty, Fragment: true}); len(res.Violations) != 0 {
		t.Errorf("empty fragment: %v", res.Violations)
	}
	bad := tweak(empty, func(p *corev1.Pod) {
		p.Spec.HostNetwork = true
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
	})
	res := e.Evaluate(&Input{Pod: bad, Fragment: true})
	var ids []string
	for _, v := range res.Violations {
		ids = append(ids, v.Rule)
	}
	if !slices.Equal(ids, []string{"run-as-non-root", "no-host-network"}) {
		t.Errorf("fragment rules = %v", ids)
	}
}

// Every rule has a unique ID, a one-line summary for `kestra-guard rules`,
// one-line Markdown for its row in the README's rule table (which
// internal/ruledoc writes), and lives in the file named after its ID.
func TestRuleRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		seen[r.ID] = true
		if r.Summary == "" || strings.Contains(r.Summary, "\n") {
			t.Errorf("rule %s: summary %q: expected one line saying what it forbids", r.ID, r.Summary)
		}
		if r.Default != Deny && r.Default != Warn && r.Default != Off {
			t.Errorf("rule %s: default %q: expected deny, warn or off", r.ID, r.Default)
		}
		for _, d := range []string{r.Doc.Forbids, r.Doc.Threat, r.Doc.Fix} {
			// One table cell each in the README (internal/ruledoc).
			if d == "" || strings.ContainsAny(d, "\n|") {
				t.Errorf("rule %s: doc %q: expected one line without |", r.ID, d)
			}
		}
		file := strings.ReplaceAll(r.ID, "-", "_") + ".go"
		if _, err := os.Stat(file); err != nil {
			t.Errorf("rule %s: expected it in %s: %v", r.ID, file, err)
		}
	}
}
