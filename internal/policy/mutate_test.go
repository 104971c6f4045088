package policy

import (
	"slices"
	"strings"
	"testing"

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
	changes := e.Options().Mutate(p, ScopePod)
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
	if again := e.Options().Mutate(p, ScopePod); again != nil {
		t.Errorf("second mutation changed %v", again)
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
	changes := e.Options().Mutate(p, ScopeEphemeral)
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
