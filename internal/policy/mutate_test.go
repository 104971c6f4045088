package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

// The Pod Kestra creates by default passes every rule once mutated; the
// egress rule depends on the cluster and is given the managed policy here.
func TestMutateKestraDefaultPodPasses(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.Rules = nil })
	p := loadPod(t, "testdata/pods/kestra-default.yaml")
	if res := evaluate(e, p); !res.Denied() {
		t.Fatal("the unmutated default Pod should be denied")
	}
	changes := e.Options().Mutate(p, ScopePod).Changes
	if res := evaluate(e, p); len(res.Violations) != 0 {
		t.Fatalf("after mutation: %v", res.Violations)
	}
	sc := p.Spec.SecurityContext
	if *sc.RunAsUser != 65532 || *sc.RunAsGroup != 65532 || *sc.FSGroup != 65532 || !*sc.RunAsNonRoot {
		t.Errorf("pod securityContext = %+v, want the configured non-root identity", sc)
	}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if !mountsAt(&c, "/tmp") {
			t.Errorf("container %s has no writable /tmp", c.Name)
		}
	}
	if !slices.Contains(changes, "spec.containers[1].securityContext.readOnlyRootFilesystem=true") {
		t.Errorf("changes do not report the sidecar's readOnlyRootFilesystem: %v", changes)
	}
	// Mutation is idempotent: a second pass changes nothing.
	if again := e.Options().Mutate(p, ScopePod); again.Changes != nil || again.Patch != nil {
		t.Errorf("second mutation changed %v", again)
	}
}

// With the start gate on, mutation puts it first, once: the Pod then passes
// start-gate, and a reinvoked mutation adds nothing. In audit mode the
// change is described.
func TestMutateAddsTheGateFirst(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.Rules = nil; withGate(c) })
	for name, p := range map[string]*corev1.Pod{
		"kestra default":    loadPod(t, "testdata/pods/kestra-default.yaml"),
		"no init container": tweak(minimalPod(), func(p *corev1.Pod) { p.Spec.InitContainers = nil }),
	} {
		t.Run(name, func(t *testing.T) {
			n := len(p.Spec.InitContainers)
			changes := e.Options().Mutate(p, ScopePod).Changes
			if len(p.Spec.InitContainers) != n+1 || !e.Options().IsGate(&p.Spec.InitContainers[0]) {
				t.Fatalf("init containers after mutation: %v; want the gate first, then the %d others", p.Spec.InitContainers, n)
			}
			if res := evaluate(e, p); len(res.Violations) != 0 {
				t.Errorf("after mutation: %v", res.Violations)
			}
			if p.Labels[GateLabel] != "true" {
				t.Errorf("labels %v: want %s=true, which the gate watcher selects", p.Labels, GateLabel)
			}
			if !slices.Contains(changes, "spec.initContainers[0]="+GateContainerName+" (start gate, image "+gateImage+")") {
				t.Errorf("changes do not report the gate: %v", changes)
			}
			if again := e.Options().Mutate(p, ScopePod); again.Changes != nil || again.Patch != nil {
				t.Errorf("second mutation changed %v", again)
			}
			if got := e.Options().Mutate(p, ScopeEphemeral); got.Patch != nil {
				t.Errorf("an ephemeral-container update got %v", got.Patch)
			}
		})
	}
}

// Mutation never overwrites an explicit value: explicit violations stay for
// the validator.
func TestMutateKeepsExplicitValues(t *testing.T) {
	e := testEngine(t, nil)
	p := tweak(minimalPod(), func(p *corev1.Pod) {
		p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		p.Spec.AutomountServiceAccountToken = ptr.To(true)
	})
	orig := p.DeepCopy()
	e.Options().Mutate(p, ScopePod)
	if *p.Spec.SecurityContext.RunAsUser != 0 || *p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem || !*p.Spec.AutomountServiceAccountToken {
		t.Error("mutation overwrote an explicit value")
	}
	if p.Spec.Containers[1].SecurityContext.AllowPrivilegeEscalation != nil {
		t.Error("allowPrivilegeEscalation=false next to privileged=true is invalid and must not be set")
	}
	if got := ruleIDs(evaluate(e, p).Violations); got != "run-as-non-root,read-only-root-filesystem,no-privileged,no-privilege-escalation,no-service-account-token" {
		t.Errorf("violations after mutation = %s", got)
	}
	if equality.Semantic.DeepEqual(orig.Spec.Containers[1], p.Spec.Containers[1]) {
		t.Error("unset fields of the privileged container should still be filled")
	}
}

// On pods/ephemeralcontainers only ephemeral containers may change.
func TestMutateEphemeralScope(t *testing.T) {
	e := testEngine(t, nil)
	p := tweak(minimalPod(), func(p *corev1.Pod) {
		p.Spec.SecurityContext = nil
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	})
	changes := e.Options().Mutate(p, ScopeEphemeral).Changes
	if p.Spec.SecurityContext != nil {
		t.Error("ephemeral scope changed the Pod's securityContext")
	}
	for _, c := range changes {
		if !strings.HasPrefix(c, "spec.ephemeralContainers[0].") {
			t.Errorf("ephemeral scope changed %s", c)
		}
	}
	if sc := p.Spec.EphemeralContainers[0].SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("ephemeral container not hardened: %+v", sc)
	}
}

// applyPatch applies the mutation's patch to the original Pod's JSON, as
// the API server does, and decodes the result.
func applyPatch(t testing.TB, original *corev1.Pod, ops []PatchOp) *corev1.Pod {
	t.Helper()
	doc, _ := json.Marshal(original)
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		t.Fatalf("decoding the patch: %v\n%s", err, patchJSON)
	}
	patched, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("applying the patch: %v\n%s", err, patchJSON)
	}
	var out corev1.Pod
	if err := json.Unmarshal(patched, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// The patch, applied to the original Pod, gives exactly the mutated Pod,
// with the start gate off and on.
func TestMutatePatchMatchesMutation(t *testing.T) {
	pods := map[string]*corev1.Pod{
		"no init container":  tweak(minimalPod(), func(p *corev1.Pod) { p.Spec.InitContainers = nil }),
		"no labels":          tweak(minimalPod(), func(p *corev1.Pod) { p.Labels = nil }),
		"gate already first": gated(loadPod(t, "testdata/pods/kestra-default.yaml")),
		"kestra default":     loadPod(t, "testdata/pods/kestra-default.yaml"),
		"hardened":           minimalPod(),
		"partial security contexts": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](5)}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
			p.Spec.Containers[1].SecurityContext = nil
			p.Spec.Containers[1].VolumeMounts = nil
			p.Spec.Volumes = nil
		}),
		"explicit identity and env": tweak(loadPod(t, "testdata/pods/kestra-default.yaml"), func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "WORKING_DIR", Value: "/kestra/working-dir"}}
			p.Spec.ServiceAccountName = "kestra-api"
		}),
		"with ephemeral": tweak(minimalPod(), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}),
	}
	for gate, mod := range map[string]func(*Config){"gate off": nil, "gate on": withGate} {
		e := testEngine(t, mod)
		for name, pod := range pods {
			for _, scope := range []Scope{ScopePod, ScopeEphemeral} {
				t.Run(fmt.Sprintf("%s/%s/scope %d", gate, name, scope), func(t *testing.T) {
					mutated := pod.DeepCopy()
					mut := e.Options().Mutate(mutated, scope)
					if got := applyPatch(t, pod, mut.Patch); !equality.Semantic.DeepEqual(got, mutated) {
						t.Errorf("patched Pod differs from the mutated Pod:\n%s", cmp.Diff(mutated, got))
					}
				})
			}
		}
	}
}

// A Pod that already has a container named like the gate, but not first or
// not the gate itself, gets no second one (the API server would refuse the
// duplicate name with a less useful message): start-gate refuses it.
func TestMutateAddsNoSecondGate(t *testing.T) {
	e := testEngine(t, func(c *Config) { c.Rules = nil; withGate(c) })
	for name, p := range map[string]*corev1.Pod{
		"gate second (another webhook prepended a container)": tweak(gated(minimalPod()), func(p *corev1.Pod) {
			p.Spec.InitContainers = append([]corev1.Container{{Name: "istio-init", Image: "istio/proxyv2"}}, p.Spec.InitContainers...)
		}),
		"a copy of the gate made a sidecar": tweak(gated(minimalPod()), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}),
	} {
		t.Run(name, func(t *testing.T) {
			n := len(p.Spec.InitContainers)
			e.Options().Mutate(p, ScopePod)
			if len(p.Spec.InitContainers) != n {
				t.Fatalf("mutation added an init container: %v", p.Spec.InitContainers)
			}
			res := evaluate(e, p)
			if !slices.ContainsFunc(res.Violations, func(v Violation) bool { return v.Rule == StartGateID }) {
				t.Errorf("want a start-gate violation, got %v", res.Violations)
			}
		})
	}
}

// A canary the managed policy blocks would keep every gate shut: refused.
func TestGateCanaryOutsideMetadata(t *testing.T) {
	cfg := DefaultConfig()
	withGate(&cfg)
	cfg.StartGate.Canary = "169.254.169.254:80"
	if _, err := NewEngine(cfg); err == nil || !strings.Contains(err.Error(), `startGate.canary: "169.254.169.254:80" is in a metadataCIDRs range`) {
		t.Errorf("error %v: want the canary refused", err)
	}
	cfg.StartGate.Canary = "10.96.0.1:443"
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g := e.Options().Gate; !slices.Contains(g.Args, "--canary=10.96.0.1:443") {
		t.Errorf("gate args %v lack the canary", g.Args)
	}
}
