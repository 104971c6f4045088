package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// NetworkPolicyValidator refuses, in guarded namespaces
// (scope.GuardedNamespace), a NetworkPolicy that would let task-runner Pods
// reach a metadata address.
type NetworkPolicyValidator struct{ *Guard }

const metadataRule = policy.MetadataEgressBlockedID

func (v NetworkPolicyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	return endpoint{name: "networkpolicy", guard: v.Guard, decide: v.decide}.Handle(ctx, req)
}

func (v NetworkPolicyValidator) decide(ctx context.Context, req admission.Request) (admission.Response, string, error) {
	np, skipped, err := v.decode(req)
	if err != nil || skipped != "" {
		return admission.Allowed(skipped), "skipped", err
	}
	ns, err := v.namespace(ctx, req.Namespace)
	if err != nil {
		return admission.Response{}, "", err
	}
	runnerNS := v.scope.RunnerNamespace(ns.Name, ns.Labels)
	holdsManaged := false
	if !runnerNS {
		if holdsManaged, err = v.holdsManagedPolicy(ctx, ns.Name); err != nil {
			return admission.Response{}, "", err
		}
	}
	mode, _ := v.scope.Mode(ns)
	action := v.Engine.Action(metadataRule) // the rule's configured action: deny, warn or off
	if !v.scope.GuardedNamespace(ns.Name, ns.Labels, holdsManaged, false) || mode == config.Off || action == policy.Off {
		return admission.Allowed(""), "skipped", nil
	}
	openings := v.scope.MetadataReopenings(np, runnerNS, v.Engine.Options())
	if len(openings) == 0 {
		return admission.Allowed(""), "skipped", nil
	}
	msgs := make([]string, len(openings))
	for i, op := range openings {
		msgs[i] = op.Field + " allows egress to " + op.Address
	}
	v.Metrics.violation(metadataRule, string(action), string(mode))
	log := v.Log.WithValues("uid", req.UID, "namespace", np.Namespace, "networkPolicy", np.Name, "mode", mode, "action", action)
	switch {
	case action == policy.Warn:
		return v.admit(log, msgs, "admitted NetworkPolicy that reopens metadata egress: the rule is set to warn", "kestra-guard warning: "), "admitted", nil
	case mode == config.Audit:
		return v.admit(log, msgs, "admitted NetworkPolicy that reopens metadata egress", "kestra-guard audit: enforce would deny: "), "admitted", nil
	}
	log.Info("denied NetworkPolicy that reopens metadata egress")
	return admission.Denied(fmt.Sprintf("kestra-guard denied NetworkPolicy %s/%s: %s: it would let task-runner Pods reach a cloud metadata address:\n- %s\nadd the metadata ranges to the ipBlock's except, or exclude task runners from its podSelector (%s DoesNotExist)",
		np.Namespace, np.Name, metadataRule, strings.Join(msgs, "\n- "), v.scope.SelectorText())), "denied", nil
}

// decode reads the NetworkPolicy of req; skipped says why it is admitted
// unread (an excluded namespace, the managed policy itself).
func (v NetworkPolicyValidator) decode(req admission.Request) (np *networkingv1.NetworkPolicy, skipped string, err error) {
	if req.Kind.Group != networkingv1.GroupName || req.Kind.Kind != "NetworkPolicy" {
		return nil, "", badRequest(fmt.Errorf("expected a networking.k8s.io/v1 NetworkPolicy, got %s", req.Kind.String()))
	}
	if len(req.Object.Raw) == 0 {
		return nil, "", badRequest(fmt.Errorf("request %s for NetworkPolicy %s/%s carries no object", req.Operation, req.Namespace, req.Name))
	}
	if v.scope.Excluded(req.Namespace) {
		return nil, "namespace " + req.Namespace + " is never intercepted", nil
	}
	np = &networkingv1.NetworkPolicy{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Object.Raw, np); err != nil {
		return nil, "", badRequest(fmt.Errorf("decoding NetworkPolicy %s/%s: %w", req.Namespace, req.Name, err))
	}
	np.Namespace = req.Namespace
	if np.Name == managed.Name {
		return nil, "the managed policy", nil // repaired by the controller if edited
	}
	return np, "", nil
}

// holdsManagedPolicy reads from the API server whether ns holds the managed
// policy (the cache may not show one applied a moment ago).
func (v NetworkPolicyValidator) holdsManagedPolicy(ctx context.Context, ns string) (bool, error) {
	var mp networkingv1.NetworkPolicy
	err := v.Live.Get(ctx, client.ObjectKey{Namespace: ns, Name: managed.Name}, &mp)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("reading the managed policy of %s: %w", ns, err)
	}
	return err == nil, nil
}

// admit lets the policy in, with one warning per opening.
func (v NetworkPolicyValidator) admit(log logr.Logger, msgs []string, logMsg, prefix string) admission.Response {
	log.Info(logMsg)
	warnings := make([]string, len(msgs))
	for i, m := range msgs {
		warnings[i] = prefix + metadataRule + ": " + m
	}
	return admission.Allowed("").WithWarnings(warnings...)
}
