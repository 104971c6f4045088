package webhook

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// The reference decode path, kept for the equivalence tests only
// (pod_handler_test.go, fuzz_test.go): controller-runtime's admission.Webhook
// decodes the review and reference(r) decodes the Pod with sigs.k8s.io/json,
// as the API machinery does, then decides through the same middleware and
// reviewer as PodHandler. Production serves the Pod webhooks with PodHandler
// alone.

// reference is r as an admission.Handler, for admission.Webhook.
func reference(r reviewer) admission.Handler { return referenceHandler{r} }

type referenceHandler struct{ r reviewer }

func (h referenceHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	e := endpoint{name: h.r.webhook(), guard: h.r.guard()}
	return e.serve(&req.AdmissionRequest, func() decision {
		return h.r.decide(ctx, &req.AdmissionRequest, rawPod(req.Object.Raw), rawPod(req.OldObject.Raw))
	})
}

// rawPod decodes raw as the API machinery would, when asked.
func rawPod(raw []byte) podSource {
	return podSource{present: len(raw) > 0, decode: func() (*corev1.Pod, error) {
		pod := &corev1.Pod{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, pod); err != nil {
			return nil, err
		}
		return pod, nil
	}}
}

// Production has one decode path for the Pod webhooks: Validator and Mutator
// are reviewers served by PodHandler, not admission.Handlers that
// admission.Webhook could serve with a second decoder.
func TestPodWebhooksHaveOneDecodePath(t *testing.T) {
	for name, r := range map[string]reviewer{"validate": Validator{}, "mutate": Mutator{}} {
		if _, ok := r.(admission.Handler); ok {
			t.Errorf("%s is an admission.Handler: a second decode path; serve it with PodHandler and keep the reference in reference_test.go", name)
		}
	}
}
