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
}

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
	container := func(name string) corev1.Container {
		c := corev1.Container{Name: name, Image: "busybox"}
		if r.IntN(5) > 0 {
			c.SecurityContext = &corev1.SecurityContext{
				Privileged: boolPtr(), AllowPrivilegeEscalation: boolPtr(), RunAsNonRoot: boolPtr(), RunAsUser: uid(),
				SeccompProfile: seccomp(), ReadOnlyRootFilesystem: ptr.To(true),
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
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: boolPtr(), RunAsUser: uid(), SeccompProfile: seccomp()}
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
	if r.IntN(6) == 0 {
		p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pick(r, "/var/run/docker.sock", "/data", "//etc/../")}}}}
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
			if theirs := oracle.allowed(id, pod); ours != theirs {
				disagreements++
				if disagreements < 5 {
					t.Errorf("pod %d: PSA %s allowed=%v, kestra-guard %v allowed=%v", n, id, theirs, rules, ours)
				}
			}
		}
		nonRoot, user := oracle.allowed("runAsNonRoot", pod), oracle.allowed("runAsUser", pod)
		if nonRoot && user && broken["run-as-non-root"] {
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
