package webhook

import (
	"context"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// ViolationsAnnotation is the audit annotation key listing violations.
const ViolationsAnnotation = "violations"

// Validator is the validating webhook for Pods and pods/ephemeralcontainers.
type Validator struct{ *Guard }

// Handle decides one request. It never admits a task-runner Pod it could
// not evaluate: every error is an error response, which the API server
// treats as a failure of the webhook (failurePolicy Fail refuses the Pod).
func (v Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	return v.review(ctx, &req.AdmissionRequest, rawPod(req.Object.Raw), rawPod(req.OldObject.Raw))
}

// review decides req, whichever path decoded it (Handle, or the HTTP
// handler of pod_handler.go).
func (v Validator) review(ctx context.Context, req *admissionv1.AdmissionRequest, object, oldObject podSource) admission.Response {
	start := time.Now()
	t, skipped, err := v.resolve(ctx, req, object, oldObject)
	if err != nil {
		v.Log.Error(err, "request refused", "uid", req.UID, "namespace", req.Namespace, "name", req.Name)
		v.Metrics.decision("validate", "error", start)
		return admission.Errored(statusFor(err), err)
	}
	if t == nil || t.mode == config.Off {
		if t != nil {
			skipped = "mode off"
		}
		v.Metrics.decision("validate", "skipped", start)
		return admission.Allowed(skipped)
	}
	pols, err := v.networkPolicies(ctx, t.pod)
	if err != nil {
		v.Log.Error(err, "request refused", "uid", req.UID, "namespace", req.Namespace, "name", req.Name)
		v.Metrics.decision("validate", "error", start)
		return admission.Errored(http.StatusInternalServerError, err)
	}
	pod := t.pod
	switch {
	case t.mode == config.Audit:
		// Audit judges the Pod as enforce would admit it: mutated (the
		// mutating webhook reports that as "would set" warnings) and with
		// the managed policy it would have applied.
		if scope, ok := mutationScope(req); ok {
			pod = pod.DeepCopy()
			v.Engine.Options().MutatePatch(pod, scope)
		}
		pols = v.withManagedPolicy(t, pols)
	case req.DryRun != nil && *req.DryRun && t.mode == config.Enforce:
		// On dry-run the mutating webhook applied nothing; judge the Pod as
		// it would be judged once the managed policy exists.
		pols = v.withManagedPolicy(t, pols)
	}
	res := v.Engine.Evaluate(&policy.Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: true})
	excs := v.exceptions(ctx, pod, res.Violations)
	res.Violations = excs.Violations
	rules := make([]string, 0, len(res.Violations))
	for _, vi := range res.Violations {
		rules = append(rules, vi.Rule)
		v.Metrics.violation(vi.Rule, string(vi.Action), string(t.mode))
	}
	// One line per decision; WithValues would clone the encoder every time.
	kv := []any{"uid", req.UID, "namespace", t.pod.Namespace, "name", podName(t.pod), "operation", req.Operation,
		"subResource", req.SubResource, "mode", t.mode, "dryRun", req.DryRun != nil && *req.DryRun, "rules", rules}
	warnings := append(t.warnings, exceptionWarnings(excs)...)
	var resp admission.Response
	switch {
	case t.mode == config.Enforce && res.Denied():
		resp = denied(t.pod, res.Violations)
		for _, x := range excs.Expired {
			resp.Result.Message += "\n- " + x.Message()
		}
		for _, vi := range res.Violations {
			if vi.Action == policy.Warn {
				warnings = append(warnings, warning("warns ", vi))
			}
		}
		v.Log.Info("denied", kv...)
		v.Metrics.decision("validate", "denied", start)
	default:
		prefix := "warns "
		if t.mode == config.Audit {
			prefix = "audit: enforce would deny: "
		}
		for _, vi := range res.Violations {
			p := prefix
			if vi.Action == policy.Warn {
				p = "warns "
			}
			warnings = append(warnings, warning(p, vi))
		}
		resp = admission.Allowed("")
		if len(res.Violations) > 0 {
			resp.AuditAnnotations = map[string]string{ViolationsAnnotation: annotation(res.Violations)}
		}
		if len(excs.Waived) > 0 {
			if resp.AuditAnnotations == nil {
				resp.AuditAnnotations = map[string]string{}
			}
			resp.AuditAnnotations[WaivedAnnotation] = waivedAnnotation(excs)
			kv = append(kv, "waived", waivedAnnotation(excs))
		}
		v.Log.Info("admitted", kv...)
		v.Metrics.decision("validate", "admitted", start)
	}
	return resp.WithWarnings(warnings...)
}

// denied lists every violation in the message and as field causes, so that
// kubectl shows all problems at once.
func denied(p *corev1.Pod, vs []policy.Violation) admission.Response {
	causes := make([]metav1.StatusCause, 0, len(vs))
	for _, v := range vs {
		if v.Action == policy.Deny {
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseType("FieldValueForbidden"), Field: v.Field, Message: v.Rule + ": " + v.Reason + " (" + v.Detail + ")"})
		}
	}
	resp := admission.Denied(violationsMessage(p, vs))
	resp.Result.Details = &metav1.StatusDetails{Name: p.Name, Kind: "Pod", Causes: causes}
	resp.AuditAnnotations = map[string]string{ViolationsAnnotation: annotation(vs)}
	return resp
}

func annotation(vs []policy.Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v.Action) + ":" + v.Rule + "@" + v.Field
	}
	return strings.Join(parts, ",")
}
