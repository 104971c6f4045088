package webhook

import (
	"context"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// ViolationsAnnotation is the audit annotation key listing violations.
const ViolationsAnnotation = "violations"

// In a namespace pinned to an older rule set, the audit annotations name the
// version and list the denials latest would add.
const (
	RuleSetVersionAnnotation  = "rule-set-version"
	LatestWouldDenyAnnotation = "latest-would-deny"
)

// Validator is the validating webhook for Pods, pods/ephemeralcontainers and
// the pods/status writes that change labels or annotations (the chart sends
// only those), each judged as the whole Pod it would leave.
type Validator struct{ *Guard }

// decide decides one decoded request (PodHandler decodes it). It never
// admits a task-runner Pod it could not evaluate: every error is an error
// response (endpoint.serve), which the API server treats as a failure of the
// webhook (failurePolicy Fail refuses the Pod).
func (v Validator) decide(ctx context.Context, req *admissionv1.AdmissionRequest, object, oldObject podSource) decision {
	t, skipped, err := v.resolve(ctx, req, object, oldObject)
	if err != nil {
		return failed(err)
	}
	if t == nil || t.mode == scope.Off {
		if t != nil {
			skipped = "mode off"
		}
		return decided(admission.Allowed(skipped), outcomeSkipped)
	}
	pols, err := v.networkPolicies(ctx, t.pod)
	if err != nil {
		return failed(err)
	}
	pod, pols := v.judged(req, t, pols)
	in := &policy.Input{Pod: pod, NetworkPolicies: pols, NetworkPoliciesKnown: true, NetworkPoliciesServed: true}
	res := t.engine.Evaluate(in)
	t.latestWouldDeny = t.engine.LatestWouldDeny(in, res)
	excs := v.exceptions(ctx, pod, res.Violations, requester(req))
	res.Violations = excs.Violations
	return v.respond(req, t, res, excs)
}

// judged is the Pod and the policies the rules judge. Audit judges the Pod
// as enforce would admit it: mutated (the mutating webhook reports that as
// "would set" warnings) and with the managed policy it would have applied.
// On dry-run in enforce mode the mutating webhook applied nothing, so the Pod
// is judged as it will be once the managed policy exists.
func (v Validator) judged(req *admissionv1.AdmissionRequest, t *target, pols []networkingv1.NetworkPolicy) (*corev1.Pod, []networkingv1.NetworkPolicy) {
	pod, withManaged := t.pod, false
	switch {
	case t.mode == scope.Audit:
		if part, ok := mutationScope(req); ok {
			pod = pod.DeepCopy()
			v.Engine.Options().MutatePatch(pod, part)
		}
		withManaged = true
	case req.DryRun != nil && *req.DryRun && t.mode == scope.Enforce:
		withManaged = true
	}
	if withManaged && v.Config.ManagedNetworkPolicy.Enabled {
		pols = managed.With(pols, t.pod.Namespace, v.managedSpec(t.runnerNamespace))
	}
	return pod, pols
}

// respond maps the engine's result to the answer: denied in enforce mode
// when a rule denies, else admitted with warnings and audit annotations; one
// log line and the violations metric.
func (v Validator) respond(req *admissionv1.AdmissionRequest, t *target, res policy.Result, excs exception.Outcome) decision {
	rules := make([]string, 0, len(res.Violations))
	for _, vi := range res.Violations {
		rules = append(rules, vi.Rule)
		v.Metrics.violation(vi.Rule, string(vi.Action), string(t.mode))
	}
	// One line per decision; WithValues would clone the encoder every time.
	kv := []any{"uid", req.UID, "namespace", t.pod.Namespace, "name", podName(t.pod), "operation", req.Operation,
		"subResource", req.SubResource, "mode", t.mode, "dryRun", req.DryRun != nil && *req.DryRun, "rules", rules}
	warnings := append(t.warnings, exceptionWarnings(excs)...)
	if t.engine.Pinned() {
		kv = append(kv, "ruleSetVersion", t.engine.Version())
		for _, vi := range t.latestWouldDeny {
			warnings = append(warnings, warning("(rules "+t.engine.Version()+") latest would deny: ", vi))
		}
	}
	if t.mode == scope.Enforce && res.Denied() {
		resp := denied(t.pod, res.Violations)
		pinAnnotations(&resp, t)
		for _, n := range excs.Notes() {
			resp.Result.Message += "\n- " + n
		}
		for _, vi := range res.Violations {
			if vi.Action == policy.Warn {
				warnings = append(warnings, warning("warns ", vi))
			}
		}
		v.Log.Info("denied", kv...)
		return decided(resp.WithWarnings(warnings...), outcomeDenied)
	}
	resp, warnings := admitted(t.mode, res.Violations, excs, warnings)
	pinAnnotations(&resp, t)
	if len(excs.Waived) > 0 {
		kv = append(kv, "waived", resp.AuditAnnotations[WaivedAnnotation])
	}
	v.Log.Info("admitted", kv...)
	return decided(resp.WithWarnings(warnings...), outcomeAdmitted)
}

// admitted is the answer admitting a Pod: every violation as a warning (in
// audit mode, those enforce would deny say so) and in the audit annotations,
// with the exceptions that waived others.
func admitted(mode scope.Mode, vs []policy.Violation, excs exception.Outcome, warnings []string) (admission.Response, []string) {
	prefix := "warns "
	if mode == scope.Audit {
		prefix = "audit: enforce would deny: "
	}
	for _, vi := range vs {
		p := prefix
		if vi.Action == policy.Warn {
			p = "warns "
		}
		warnings = append(warnings, warning(p, vi))
	}
	resp := admission.Allowed("")
	if len(vs) > 0 {
		resp.AuditAnnotations = map[string]string{ViolationsAnnotation: annotation(vs)}
	}
	if len(excs.Waived) > 0 {
		if resp.AuditAnnotations == nil {
			resp.AuditAnnotations = map[string]string{}
		}
		resp.AuditAnnotations[WaivedAnnotation] = waivedAnnotation(excs)
	}
	return resp, warnings
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

// pinAnnotations names, for a namespace pinned to an older rule set, the
// version and the denials latest would add.
func pinAnnotations(resp *admission.Response, t *target) {
	if !t.engine.Pinned() {
		return
	}
	if resp.AuditAnnotations == nil {
		resp.AuditAnnotations = map[string]string{}
	}
	resp.AuditAnnotations[RuleSetVersionAnnotation] = t.engine.Version()
	if len(t.latestWouldDeny) > 0 {
		resp.AuditAnnotations[LatestWouldDenyAnnotation] = annotation(t.latestWouldDeny)
	}
}

func annotation(vs []policy.Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v.Action) + ":" + v.Rule + "@" + v.Field
	}
	return strings.Join(parts, ",")
}
