package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Every mutation goes through EncodePatch, the writer the webhook uses: for
// Pods that trigger every branch of Options.Mutate (and the fixture and
// generated Pods), under configurations that change what it sets, the
// written patch, applied by a real JSON patch library to the original Pod's
// JSON, gives the mutated Pod as encoding/json writes it. A field mutation
// sets that the writer cannot write fails here, not as a 500 in production.
// The shapes of the patches made (operation, path, and the fields of the
// value) must be exactly mutationShapes, so that a new mutation branch needs
// a case here.
func TestEveryMutationThroughTheWriter(t *testing.T) {
	configs := map[string]func(*Config){
		"default":    nil,
		"start gate": withGate,
		"escaping env, odd size and identity": func(c *Config) {
			c.Mutation.Env = EnvMap{"HOME": "/tmp", "A": `<"&">` + "\u2028\x01é", "EMPTY": ""}
			c.Mutation.TmpSize, c.Mutation.RunAsUser, c.Mutation.FSGroup = "1.5G", 1<<40, 7
		},
		"no env":                          func(c *Config) { c.Mutation.Env = EnvMap{} },
		"token kept for a ServiceAccount": func(c *Config) { c.Mutation.KeepTokenForServiceAccount = true },
	}
	shapes := map[string]bool{}
	n := 0
	for cname, mod := range configs {
		e := testEngine(t, mod)
		for pname, pod := range mutationPods(t) {
			for _, scope := range []Scope{ScopePod, ScopeEphemeral} {
				// MutatePatch is what the webhook writes in enforce mode;
				// Mutate (audit, offline) must make the same patch.
				mutated, described := pod.DeepCopy(), pod.DeepCopy()
				mut := e.Options().MutatePatch(mutated, scope)
				where := fmt.Sprintf("%s / %s / scope %d", cname, pname, scope)
				if d := e.Options().Mutate(described, scope); !reflect.DeepEqual(d.Patch, mut.Patch) {
					t.Errorf("%s: Mutate made patch %v, MutatePatch %v", where, d.Patch, mut.Patch)
				}
				checkWritten(t, where, pod, mutated, mut.Patch)
				for _, op := range mut.Patch {
					for _, s := range patchShapes(op) {
						shapes[s] = true
					}
				}
				n += len(mut.Patch)
			}
		}
	}
	for _, s := range mutationShapes {
		if !shapes[s] {
			t.Errorf("no case makes a patch of shape %q: add a Pod to mutationPods that does", s)
		}
		delete(shapes, s)
	}
	for _, s := range slices.Sorted(maps.Keys(shapes)) {
		t.Errorf("mutation made a patch of a shape mutationShapes does not list: %q (a new mutation branch: list it)", s)
	}
	if n < 1000 {
		t.Errorf("only %d operations written: the cases do not exercise mutation", n)
	}
}

// checkWritten writes ops with EncodePatch, applies them to original's JSON
// and compares the result with mutated's JSON.
func checkWritten(t *testing.T, where string, original, mutated *corev1.Pod, ops []PatchOp) {
	t.Helper()
	written, err := EncodePatch(ops)
	if err != nil {
		t.Errorf("%s: the writer cannot write the patch: %v", where, err)
		return
	}
	if len(ops) == 0 {
		return
	}
	patch, err := jsonpatch.DecodePatch(written)
	if err != nil {
		t.Errorf("%s: the written patch does not decode: %v\n%s", where, err, written)
		return
	}
	doc, _ := json.Marshal(original)
	patched, err := patch.Apply(doc)
	if err != nil {
		t.Errorf("%s: applying the written patch: %v\n%s", where, err, written)
		return
	}
	want, _ := json.Marshal(mutated)
	var got, wantDoc any
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wantDoc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantDoc) {
		t.Errorf("%s: the written patch applied to the Pod is not the mutated Pod\npatch:   %s\npatched: %s\nmutated: %s", where, written, patched, want)
	}
}

var index = regexp.MustCompile(`/[0-9]+(/|$)`)

// patchShapes describes op without its indexes: "op path" when the value is
// a scalar or absent, else one "op path: field" per leaf of the value. The
// start gate's container is one shape (it is marshalled whole once, at
// start-up, by encoding/json).
func patchShapes(op PatchOp) []string {
	path := index.ReplaceAllString(index.ReplaceAllString(op.Path, "/*$1"), "/*$1")
	head := op.Op + " " + path
	if strings.HasPrefix(path, "/spec/initContainers") && op.Op == "add" && !strings.Contains(path, "/*/") {
		return []string{head + ": the start gate"}
	}
	b, err := json.Marshal(op.Value)
	if err != nil {
		return []string{head + ": unencodable " + err.Error()}
	}
	var v any
	_ = json.Unmarshal(b, &v)
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+"/"+k, x)
			}
		case []any:
			for _, x := range v {
				walk(prefix+"/*", x)
			}
		default:
			if prefix == "" {
				out = append(out, head)
			} else {
				out = append(out, head+": "+prefix)
			}
		}
	}
	walk("", v)
	slices.Sort(out)
	return slices.Compact(out)
}

// mutationShapes is every patch shape Options.Mutate makes.
var mutationShapes = []string{
	"add /metadata/labels/kestra-guard.io~1start-gate",
	"add /metadata/labels: /kestra-guard.io/start-gate",
	"add /spec/automountServiceAccountToken",
	"add /spec/containers/*/env/-: /name",
	"add /spec/containers/*/env/-: /value",
	"add /spec/containers/*/env: /*/name",
	"add /spec/containers/*/env: /*/value",
	"add /spec/containers/*/securityContext/allowPrivilegeEscalation",
	"add /spec/containers/*/securityContext/capabilities/drop: /*",
	"add /spec/containers/*/securityContext/capabilities: /drop/*",
	"add /spec/containers/*/securityContext/readOnlyRootFilesystem",
	"add /spec/containers/*/securityContext: /allowPrivilegeEscalation",
	"add /spec/containers/*/securityContext: /capabilities/drop/*",
	"add /spec/containers/*/securityContext: /readOnlyRootFilesystem",
	"add /spec/containers/*/volumeMounts/-: /mountPath",
	"add /spec/containers/*/volumeMounts/-: /name",
	"add /spec/containers/*/volumeMounts: /*/mountPath",
	"add /spec/containers/*/volumeMounts: /*/name",
	"add /spec/ephemeralContainers/*/env/-: /name",
	"add /spec/ephemeralContainers/*/env/-: /value",
	"add /spec/ephemeralContainers/*/env: /*/name",
	"add /spec/ephemeralContainers/*/env: /*/value",
	"add /spec/ephemeralContainers/*/securityContext/allowPrivilegeEscalation",
	"add /spec/ephemeralContainers/*/securityContext/capabilities/drop: /*",
	"add /spec/ephemeralContainers/*/securityContext/capabilities: /drop/*",
	"add /spec/ephemeralContainers/*/securityContext: /allowPrivilegeEscalation",
	"add /spec/ephemeralContainers/*/securityContext: /capabilities/drop/*",
	"add /spec/ephemeralContainers/*/securityContext: /readOnlyRootFilesystem",
	"add /spec/ephemeralContainers/*/volumeMounts/-: /mountPath",
	"add /spec/ephemeralContainers/*/volumeMounts/-: /name",
	"add /spec/ephemeralContainers/*/volumeMounts: /*/mountPath",
	"add /spec/ephemeralContainers/*/volumeMounts: /*/name",
	"add /spec/initContainers/*/env/-: /name",
	"add /spec/initContainers/*/env/-: /value",
	"add /spec/initContainers/*/env: /*/name",
	"add /spec/initContainers/*/env: /*/value",
	"add /spec/initContainers/*/securityContext/allowPrivilegeEscalation",
	"add /spec/initContainers/*/securityContext/capabilities/drop: /*",
	"add /spec/initContainers/*/securityContext/readOnlyRootFilesystem",
	"add /spec/initContainers/*/securityContext: /allowPrivilegeEscalation",
	"add /spec/initContainers/*/securityContext: /capabilities/drop/*",
	"add /spec/initContainers/*/securityContext: /readOnlyRootFilesystem",
	"add /spec/initContainers/*/volumeMounts/-: /mountPath",
	"add /spec/initContainers/*/volumeMounts/-: /name",
	"add /spec/initContainers/*/volumeMounts: /*/mountPath",
	"add /spec/initContainers/*/volumeMounts: /*/name",
	"add /spec/initContainers/*: the start gate",
	"add /spec/initContainers: the start gate",
	"add /spec/securityContext/fsGroup",
	"add /spec/securityContext/runAsGroup",
	"add /spec/securityContext/runAsNonRoot",
	"add /spec/securityContext/runAsUser",
	"add /spec/securityContext/seccompProfile: /type",
	"add /spec/securityContext: /fsGroup",
	"add /spec/securityContext: /runAsGroup",
	"add /spec/securityContext: /runAsNonRoot",
	"add /spec/securityContext: /runAsUser",
	"add /spec/securityContext: /seccompProfile/type",
	"add /spec/volumes/-: /emptyDir/sizeLimit",
	"add /spec/volumes/-: /name",
	"add /spec/volumes: /*/emptyDir/sizeLimit",
	"add /spec/volumes: /*/name",
	"remove /spec/containers/*/volumeMounts/*",
	"remove /spec/ephemeralContainers/*/volumeMounts/*",
	"remove /spec/initContainers/*/volumeMounts/*",
	"remove /spec/volumes/*",
}

// mutationPods are Pods that between them take every branch of
// Options.Mutate, plus the fixture Pods and generated ones.
func mutationPods(t *testing.T) map[string]*corev1.Pod {
	t.Helper()
	bare := &corev1.Pod{Spec: corev1.PodSpec{
		Containers:          []corev1.Container{{Name: "c", Image: "busybox"}},
		InitContainers:      []corev1.Container{{Name: "i", Image: "busybox"}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}},
	}}
	pods := map[string]*corev1.Pod{
		"bare (every object and list added whole)": bare,
		"minimal (hardened, env appended)":         minimalPod(),
		"no labels":                                tweak(minimalPod(), func(p *corev1.Pod) { p.Labels = nil }),
		"no init containers":                       tweak(minimalPod(), func(p *corev1.Pod) { p.Spec.InitContainers = nil }),
		"gate already first":                       gated(minimalPod()),
		"partial pod securityContext": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr.To[int64](3000)}
		}),
		"capabilities without drop, privileged, SYS_ADMIN": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
		}),
		"existing mounts, env and volumes": tweak(minimalPod(), func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].VolumeMounts = []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
			}
		}),
		"tmp volume present, /tmp mounted, envFrom": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/tmp/"}}
			p.Spec.Containers[1].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}}}}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}),
		"partial container securityContexts, lists present": tweak(minimalPod(), func(p *corev1.Pod) {
			sc := func(caps *corev1.Capabilities) *corev1.SecurityContext {
				return &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), Capabilities: caps}
			}
			p.Spec.InitContainers[0].SecurityContext = sc(&corev1.Capabilities{Add: []corev1.Capability{"CHOWN"}})
			p.Spec.Containers[0].SecurityContext = sc(nil)
			mounts := []corev1.VolumeMount{{Name: "kestra-files", MountPath: "/kestra"}}
			env := []corev1.EnvVar{{Name: "X", Value: "1"}}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{
				{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "a", SecurityContext: sc(nil), VolumeMounts: mounts, Env: env}},
				{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "b", SecurityContext: sc(&corev1.Capabilities{Add: []corev1.Capability{"CHOWN"}})}},
			}
		}),
		"identity from containers": tweak(loadPod(t, "testdata/pods/kestra-default.yaml"), func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000)}
		}),
		"injected token (ServiceAccount default)": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.AutomountServiceAccountToken = nil
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
			injectedToken("kube-api-access-x7k2p")(p)
			p.Spec.EphemeralContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", MountPath: ServiceAccountTokenDir}}
		}),
		"injected token (own ServiceAccount)": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.AutomountServiceAccountToken = nil
			p.Spec.ServiceAccountName = "kestra-api"
			injectedToken("kube-api-access-abcde")(p)
		}),
		"seccomp set, nothing else": tweak(bare, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("p.json")}}
		}),
	}
	files, err := filepath.Glob("testdata/pods/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture Pods: %v", err)
	}
	for _, f := range files {
		pods[f] = loadPod(t, f)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 100 {
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
		if r.IntN(2) == 0 {
			injectedToken("kube-api-access-r" + fmt.Sprint(i))(p)
			p.Spec.AutomountServiceAccountToken = nil
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
		pods[fmt.Sprintf("generated %d", i)] = p
	}
	return pods
}
