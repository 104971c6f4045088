package intree

import (
	"fmt"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// conditionCorpus is the Pods the match condition is checked on: the rule
// fixtures, the Pods kube-apiserver sent (internal/webhook/testdata/reviews),
// and the passing task runner with one fault in one container of each list,
// so that every check of every list is met failing and passing.
func conditionCorpus(t *testing.T) map[string]*corev1.Pod {
	t.Helper()
	out := map[string]*corev1.Pod{}
	for f, p := range framework.PodFixtures(t) {
		out["fixture "+f] = p
	}
	for _, r := range []string{"validate-passing-create.json", "validate-kestra-default-create.json", "mutate-passing-create.json", "mutate-kestra-default-create.json"} {
		out["review "+r] = reviewPod(t, r)
	}
	passing := reviewPod(t, "validate-passing-create.json")
	faults := map[string]func(p *corev1.Pod, c *corev1.Container){
		"root":          func(_ *corev1.Pod, c *corev1.Container) { sc(c).RunAsUser = ptr.To[int64](0) },
		"privileged":    func(_ *corev1.Pod, c *corev1.Container) { sc(c).Privileged = ptr.To(true) },
		"writable root": func(_ *corev1.Pod, c *corev1.Container) { sc(c).ReadOnlyRootFilesystem = ptr.To(false) },
		"SYS_ADMIN": func(_ *corev1.Pod, c *corev1.Container) {
			sc(c).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}
		},
		"probe host":     func(_ *corev1.Pod, c *corev1.Container) { c.StartupProbe = tcpProbe("10.0.0.1") },
		"probe, no host": func(_ *corev1.Pod, c *corev1.Container) { c.StartupProbe = tcpProbe("") },
		"metadata command": func(_ *corev1.Pod, c *corev1.Container) {
			c.Command = []string{"curl", "http://169.254.169.254/latest/"}
		},
		"metadata hostname": func(_ *corev1.Pod, c *corev1.Container) { c.Args = []string{"wget http://METADATA.google.internal/"} },
		"metadata env": func(_ *corev1.Pod, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "URL", Value: "http://[fd00:ec2::254]:80/"})
		},
		"numbers, no address": func(_ *corev1.Pod, c *corev1.Container) { c.Args = []string{"sleep 1; python3 run.py --v 3.12 a:b"} },
		"host path mounted writable": func(p *corev1.Pod, c *corev1.Container) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/app"}}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/host"})
		},
		"host port": func(_ *corev1.Pod, c *corev1.Container) {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 8080, HostPort: 8080})
		},
	}
	for name, fault := range faults {
		for _, at := range []struct {
			list string
			get  func(p *corev1.Pod) *corev1.Container
		}{
			{"initContainers[0]", func(p *corev1.Pod) *corev1.Container { return &p.Spec.InitContainers[0] }},
			{"containers[1]", func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[1] }},
			{"ephemeralContainers[0]", func(p *corev1.Pod) *corev1.Container {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(*p.Spec.Containers[0].DeepCopy())}}
				p.Spec.EphemeralContainers[0].Name = "debug"
				return (*corev1.Container)(&p.Spec.EphemeralContainers[0].EphemeralContainerCommon)
			}},
		} {
			p := passing.DeepCopy()
			fault(p, at.get(p))
			out[fmt.Sprintf("%s in %s", name, at.list)] = p
		}
	}
	return out
}

func sc(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func tcpProbe(host string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: host}}}
}

// The match condition fails-a-check (templates/intree.yaml) writes the
// policy's validations as one expression, the checks of each container list
// in one pass over it: on every Pod it must hold, or fail, exactly when a
// validation fails or errs (the API server then judges the Pod by them), and
// never let a Pod skip a validation it fails. Evaluated with the API
// server's own CEL, for configurations that change the generated CEL.
func TestMatchConditionIsTheValidations(t *testing.T) {
	corpus := conditionCorpus(t)
	for name, values := range map[string]map[string]any{
		"defaults": {"admission": map[string]any{"mode": "both"}},
		"configured": {"admission": map[string]any{"mode": "both"}, "startGate": map[string]any{"enabled": false},
			"policy": map[string]any{"rules": map[string]any{"allowed-registries": "deny", "no-host-ports": "warn", "no-privileged": "warn"},
				"allowedRegistries": []any{"docker.io/library"}, "hostPathAllowList": []any{"/var/log/"}}},
	} {
		vaps, _ := renderPolicies(t, values)
		for _, pname := range []string{"kestra-guard-deny", "kestra-guard-warn"} {
			p := vaps[pname]
			if p == nil {
				t.Fatalf("%s: the chart renders no %s", name, pname)
			}
			cond := conditions(t, p.Spec.Variables, false, p.Spec.MatchConditions)
			each := make([]func(*admission.VersionedAttributes) (bool, error), len(p.Spec.Validations))
			for i, v := range p.Spec.Validations {
				each[i] = conditions(t, p.Spec.Variables, false, []admissionregistrationv1.MatchCondition{{Name: "v", Expression: v.Expression}})
			}
			refusedSome := false
			for pod, obj := range corpus {
				matches, err := cond(attributes(obj))
				judged := matches || err != nil
				var failed []int
				for i, v := range each {
					if ok, err := v(attributes(obj)); !ok || err != nil {
						failed = append(failed, i)
					}
				}
				if judged != (len(failed) > 0) {
					t.Errorf("%s, %s, %s: match condition %v (error %v), failed validations %v", name, pname, pod, matches, err, failed)
				}
				refusedSome = refusedSome || len(failed) > 0
			}
			if !refusedSome {
				t.Errorf("%s, %s: no Pod of the corpus fails a validation: the test checks nothing", name, pname)
			}
		}
	}
}

// The hostnames become one regular expression (hostnamePattern in
// templates/_intree.tpl): each quoted, matched in any case; an empty list
// matches nothing, and the IP literals are still read.
func TestHostnamePattern(t *testing.T) {
	pod := func(arg string) *corev1.Pod {
		p := reviewPod(t, "validate-passing-create.json")
		p.Spec.Containers[0].Args = []string{arg}
		return p
	}
	for name, tc := range map[string]struct {
		hostnames []any
		refused   []string
		admitted  []string
	}{
		"quoted": {[]any{"a+b.internal", "x|y.example"},
			[]string{"curl http://A+B.INTERNAL/", "curl http://x|y.example/", "curl http://169.254.169.254/"},
			[]string{"curl http://aab.internal/", "curl http://x.example/", "curl http://y.example/", "curl http://metadata.google.internal/"}},
		"none": {[]any{}, []string{"curl http://169.254.169.254/"}, []string{"curl http://metadata.google.internal/", "curl http://example.com/"}},
	} {
		vaps, _ := renderPolicies(t, map[string]any{"admission": map[string]any{"mode": "both"}, "startGate": map[string]any{"enabled": false},
			"policy": map[string]any{"metadataHostnames": tc.hostnames}})
		deny := vaps["kestra-guard-deny"]
		match := matcher(t, deny.Spec.Variables, false, deny.Spec.MatchConditions)
		for _, arg := range tc.refused {
			if !match(attributes(pod(arg))) {
				t.Errorf("%s: args %q pass the deny policy's match condition; want it refused", name, arg)
			}
		}
		for _, arg := range tc.admitted {
			if match(attributes(pod(arg))) {
				t.Errorf("%s: args %q fail the deny policy's match condition; want it admitted", name, arg)
			}
		}
	}
}
