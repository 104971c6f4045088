package webhook

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Whatever object an AdmissionReview carries, the validating webhook never
// panics, never admits what it cannot decode as a Pod, and admits a Pod
// exactly when the engine does.
func FuzzValidateReview(f *testing.F) {
	for _, s := range []string{
		`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
		`{"spec":{"hostNetwork":true,"containers":[{"name":"c","securityContext":{"runAsUser":0}}]}}`,
		`{"spec":{"volumes":[{"name":"h","hostPath":{"path":"//var/run/docker.sock"}}]}}`,
		`not json`, `[]`, `{"spec":{"containers":"x"}}`, `null`,
	} {
		f.Add([]byte(s), "CREATE")
	}
	g := testGuard(f)
	v := reference(Validator{Guard: g})
	f.Fuzz(func(t *testing.T, raw []byte, op string) {
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "runners",
			Operation: admissionv1.Operation(op), Object: runtime.RawExtension{Raw: raw},
		}}
		resp := v.Handle(context.Background(), req)
		var pod corev1.Pod
		decodeErr := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &pod)
		if len(raw) == 0 || decodeErr != nil || string(raw) == "null" {
			if resp.Allowed && len(raw) > 0 && decodeErr != nil {
				t.Fatalf("admitted an object that is not a Pod: %q", raw)
			}
			return
		}
		pod.Namespace = "runners"
		pols := []networkingv1.NetworkPolicy{*managed.Build("runners", managed.Spec{Metadata: g.Engine.Options().Metadata})}
		want := !g.Engine.Evaluate(&policy.Input{Pod: &pod, NetworkPolicies: pols, NetworkPoliciesKnown: true}).Denied()
		if resp.Allowed != want {
			b, _ := json.Marshal(resp)
			t.Fatalf("webhook allowed=%v, engine allowed=%v for %q: %s", resp.Allowed, want, raw, b)
		}
	})
}
