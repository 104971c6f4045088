package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// In a namespace pinned to v0.1.0 the validating webhook admits a Pod only
// a later rule refuses, and says what latest would deny in a warning and
// the audit annotations, on both decode paths; unpinned, it denies it.
func TestPinnedNamespace(t *testing.T) {
	cfg := config.Default()
	e, err := policy.NewEngine(cfg.Policy)
	if err != nil {
		t.Fatal(err)
	}
	var objs []corev1.Namespace
	c := fake.NewClientBuilder()
	for name, pin := range map[string]string{"pinned": "v0.1.0", "current": ""} {
		ns := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{scope.RunnerLabel: "true"}}}
		if pin != "" {
			ns.Labels[scope.EnforceVersionLabel] = pin
		}
		objs = append(objs, ns)
		c = c.WithObjects(&objs[len(objs)-1], managed.Build(name, managed.Spec{Metadata: e.Options().Metadata}))
	}
	fc := c.Build()
	g := newGuard(t, cfg, Guard{Reader: fc, Live: fc, Writer: fc, Log: logr.Discard()})
	review := func(ns string) []byte {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
			Spec: corev1.PodSpec{HostUsers: ptr.To(false), Containers: []corev1.Container{{Name: "main", Image: "python:3.12"}}}}
		g.Engine.Options().Mutate(p, policy.ScopePod)
		p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		ar := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns, Name: "p", Operation: admissionv1.Create, DryRun: ptr.To(false)}}
		ar.Request.Object.Raw = raw
		b, err := json.Marshal(ar)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h := bothPaths(g)[0]
	for _, path := range []struct {
		name string
		body func([]byte) []byte
	}{{"admission.Webhook", func(b []byte) []byte { return post(h.reference, b) }}, {"PodHandler", func(b []byte) []byte { return post(h.direct, b) }}} {
		t.Run(path.name, func(t *testing.T) {
			r := response(t, path.body(review("pinned")))
			warnings := strings.Join(r.Warnings, "\n")
			if !r.Allowed || !strings.Contains(warnings, "kestra-guard (rules v0.1.0) latest would deny: no-unmasked-proc: spec.containers[0].securityContext.procMount") {
				t.Errorf("pinned: allowed %v, warnings:\n%s", r.Allowed, warnings)
			}
			if got := r.AuditAnnotations[RuleSetVersionAnnotation]; got != "v0.1.0" {
				t.Errorf("annotation %s = %q, want v0.1.0", RuleSetVersionAnnotation, got)
			}
			if got, want := r.AuditAnnotations[LatestWouldDenyAnnotation], "deny:no-unmasked-proc@spec.containers[0].securityContext.procMount"; got != want {
				t.Errorf("annotation %s = %q, want %q", LatestWouldDenyAnnotation, got, want)
			}
			r = response(t, path.body(review("current")))
			if r.Allowed || !strings.Contains(r.Result.Message, "no-unmasked-proc") || len(r.AuditAnnotations[RuleSetVersionAnnotation]) > 0 {
				t.Errorf("current: allowed %v, message %q, annotations %v", r.Allowed, r.Result.Message, r.AuditAnnotations)
			}
		})
	}
}
