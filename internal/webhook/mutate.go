package webhook

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// Mutator is the mutating webhook: on CREATE it fills a task-runner Pod's
// unset safe settings and makes sure the managed NetworkPolicy exists in the
// namespace before the Pod is admitted; on pods/ephemeralcontainers it
// hardens the new ephemeral containers. In audit mode it changes nothing and
// reports what it would set.
type Mutator struct{ *Guard }

// decide decides one decoded request (PodHandler decodes it).
func (m Mutator) decide(ctx context.Context, req *admissionv1.AdmissionRequest, object, oldObject podSource) decision {
	part, ok := mutationScope(req)
	if !ok {
		return decided(admission.Allowed("only CREATE and pods/ephemeralcontainers are mutated"), outcomeSkipped)
	}
	t, skipped, err := m.resolve(ctx, req, object, oldObject)
	if err != nil {
		return failed(err)
	}
	if t == nil || t.mode == scope.Off {
		return decided(admission.Allowed(skipped), outcomeSkipped)
	}
	if t.mode == scope.Audit {
		// Only audit shows the "would set" lines.
		mut := m.Engine.Options().Mutate(t.pod, part)
		warnings := t.warnings
		for _, c := range mut.Changes {
			warnings = append(warnings, "kestra-guard audit: would set "+c)
		}
		return decided(admission.Allowed("audit: not mutated").WithWarnings(warnings...), outcomeAudited)
	}
	mut := m.Engine.Options().MutatePatch(t.pod, part)
	if part == policy.ScopePod && m.Config.ManagedNetworkPolicy.Enabled {
		if err := m.ensureManagedPolicy(ctx, t, req.DryRun != nil && *req.DryRun); err != nil {
			return failed(err)
		}
	}
	resp, err := patchResponse(mut.Patch)
	if err != nil {
		return failed(fmt.Errorf("encoding the patch for Pod %s/%s: %w", t.pod.Namespace, podName(t.pod), err))
	}
	return decided(resp.WithWarnings(t.warnings...), outcomeMutated)
}

// mutationScope says what the mutating webhook changes for req, and false
// when it changes nothing: the whole Pod on CREATE, the ephemeral containers
// on an update of pods/ephemeralcontainers.
func mutationScope(req *admissionv1.AdmissionRequest) (policy.Scope, bool) {
	switch {
	case req.Operation == admissionv1.Update && req.SubResource == "ephemeralcontainers":
		return policy.ScopeEphemeral, true
	case req.Operation == admissionv1.Create:
		return policy.ScopePod, true
	}
	return 0, false
}

// patchResponse admits with the mutation's JSON patch, written by
// policy.EncodePatch.
func patchResponse(ops []policy.PatchOp) (admission.Response, error) {
	if len(ops) == 0 {
		return admission.Allowed(""), nil
	}
	patch, err := policy.EncodePatch(ops)
	if err != nil {
		return admission.Response{}, err
	}
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}}, nil
}

// ensureManagedPolicy applies the managed NetworkPolicy unless the cache
// already holds it; on a dry-run request it applies nothing.
func (m Mutator) ensureManagedPolicy(ctx context.Context, t *target, dryRun bool) error {
	if dryRun {
		return nil
	}
	spec := m.managedSpec(t.runnerNamespace)
	var current networkingv1.NetworkPolicy
	err := m.Reader.Get(ctx, client.ObjectKey{Namespace: t.pod.Namespace, Name: managed.Name}, &current)
	want := m.policySpec(t.runnerNamespace)
	if err == nil && m.verified(t.pod.Namespace, current.ResourceVersion, func() bool { return managed.UpToDate(&current, want) }) {
		return nil
	}
	return managed.Ensure(ctx, m.Writer, t.pod.Namespace, spec)
}
