package policy

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// AppendPatch writes what json.Marshal writes for the same operations, on
// the patches mutation makes for the fixture Pods and for generated ones,
// under several configurations (env values that need escaping, sizes).
func TestAppendPatchMatchesMarshal(t *testing.T) {
	files, err := filepath.Glob("testdata/pods/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture Pods: %v", err)
	}
	var pods []*corev1.Pod
	for _, f := range files {
		pods = append(pods, loadPod(t, f))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		p := minimalPod()
		if r.IntN(2) == 0 {
			p.Spec.SecurityContext = nil
		}
		for i := range p.Spec.Containers {
			switch r.IntN(4) {
			case 0:
				p.Spec.Containers[i].SecurityContext = nil
			case 1:
				p.Spec.Containers[i].SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}
			case 2:
				p.Spec.Containers[i].VolumeMounts, p.Spec.Containers[i].Env = nil, nil
			}
		}
		if r.IntN(2) == 0 {
			p.Spec.Volumes = nil
		}
		if r.IntN(4) == 0 {
			p.Spec.InitContainers = nil
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
		pods = append(pods, p)
	}
	configs := map[string]func(*Config){
		"default": nil,
		"escaping env": func(c *Config) {
			c.Mutation.Env = EnvMap{"HOME": "/tmp", "A": `<"&">` + "\u2028\x01é", "EMPTY": ""}
			c.Mutation.TmpSize = "512Mi"
		},
		"odd size":   func(c *Config) { c.Mutation.TmpSize = "1.5G"; c.Mutation.RunAsUser = 1 << 40 },
		"start gate": withGate,
	}
	n := 0
	for name, mod := range configs {
		e := testEngine(t, mod)
		for i, p := range pods {
			for _, scope := range []Scope{ScopePod, ScopeEphemeral} {
				mut := e.Options().MutatePatch(p.DeepCopy(), scope)
				want, err := json.Marshal(mut.Patch)
				if err != nil {
					t.Fatal(err)
				}
				got, err := AppendPatch(nil, mut.Patch)
				if err != nil {
					t.Fatalf("%s pod %d: %v", name, i, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s pod %d scope %d:\njson.Marshal: %s\nAppendPatch:  %s", name, i, scope, want, got)
				}
				n += len(mut.Patch)
			}
		}
	}
	if n < 1000 {
		t.Errorf("only %d operations written: the generated Pods do not exercise mutation", n)
	}
}

// Values of every shape, including what mutation never builds: either the
// same bytes as json.Marshal or an error, never other bytes.
func TestAppendPatchValues(t *testing.T) {
	q := resource.MustParse("100M")
	values := []any{nil, true, int64(-3), "string?",
		&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1)},
		&corev1.PodSecurityContext{SupplementalGroups: []int64{1}},
		&corev1.SecurityContext{Privileged: ptr.To(true)},
		&corev1.SecurityContext{},
		&corev1.SeccompProfile{Type: "Localhost", LocalhostProfile: ptr.To("x")},
		&corev1.Capabilities{}, []corev1.Capability{}, []corev1.Capability(nil),
		corev1.VolumeMount{Name: "a", MountPath: "/b", ReadOnly: true},
		[]corev1.VolumeMount{}, []corev1.EnvVar(nil),
		corev1.EnvVar{Name: "x", ValueFrom: &corev1.EnvVarSource{}},
		corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &q, Mode: ptr.To[int32](0o700)}}},
		corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
	}
	for i, v := range values {
		ops := []PatchOp{{Op: "add", Path: "/x", Value: v}}
		want, _ := json.Marshal(ops)
		got, err := AppendPatch(nil, ops)
		if err == nil && !bytes.Equal(got, want) {
			t.Errorf("value %d (%T): json.Marshal %s, AppendPatch %s", i, v, want, got)
		}
	}
}
