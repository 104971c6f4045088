package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// NetworkPolicyValidator refuses, in guarded namespaces
// (scope.GuardedNamespace), a NetworkPolicy that would let task-runner Pods
// reach a metadata address, and in runner namespaces any CREATE, UPDATE or
// DELETE of the managed policy by another identity than kestra-guard's own.
type NetworkPolicyValidator struct{ *Guard }

const metadataRule = policy.MetadataEgressBlockedID

func (v NetworkPolicyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	return endpoint{name: "networkpolicy", guard: v.Guard}.serve(&req.AdmissionRequest, func() decision { return v.decide(ctx, req) })
}

func (v NetworkPolicyValidator) decide(ctx context.Context, req admission.Request) decision {
	np, skipped, err := v.decode(req)
	if err != nil {
		return failed(err)
	}
	if skipped != "" {
		return decided(admission.Allowed(skipped), outcomeSkipped)
	}
	ns, err := v.namespace(ctx, req.Namespace)
	if err != nil {
		return failed(err)
	}
	runnerNS := v.scope.RunnerNamespace(ns.Name, ns.Labels)
	if requestName(req) == managed.Name {
		if d, ok := v.managedPolicy(req, ns, runnerNS); ok {
			return d
		}
	}
	if np == nil { // a DELETE of another policy
		return decided(admission.Allowed(""), outcomeSkipped)
	}
	holdsManaged := false
	if !runnerNS {
		if holdsManaged, err = v.holdsManagedPolicy(ctx, ns.Name); err != nil {
			return failed(err)
		}
	}
	mode, _ := v.scope.Mode(ns)
	action := v.Engine.Action(metadataRule) // the rule's configured action: deny, warn or off
	if !v.scope.GuardedNamespace(ns.Name, ns.Labels, holdsManaged, false) || mode == scope.Off || action == policy.Off {
		return decided(admission.Allowed(""), outcomeSkipped)
	}
	openings := v.scope.MetadataReopenings(np, runnerNS, v.Engine.Options())
	if len(openings) == 0 {
		return decided(admission.Allowed(""), outcomeSkipped)
	}
	msgs := make([]string, len(openings))
	for i, op := range openings {
		msgs[i] = op.Field + " allows egress to " + op.Address
	}
	v.Metrics.violation(metadataRule, string(action), string(mode))
	log := v.Log.WithValues("uid", req.UID, "namespace", np.Namespace, "networkPolicy", np.Name, "mode", mode, "action", action)
	switch {
	case action == policy.Warn:
		return decided(v.admit(log, msgs, "admitted NetworkPolicy that reopens metadata egress: the rule is set to warn", "kestra-guard warning: "), outcomeAdmitted)
	case mode == scope.Audit:
		return decided(v.admit(log, msgs, "admitted NetworkPolicy that reopens metadata egress", "kestra-guard audit: enforce would deny: "), outcomeAdmitted)
	}
	log.Info("denied NetworkPolicy that reopens metadata egress")
	return decided(admission.Denied(fmt.Sprintf("kestra-guard denied NetworkPolicy %s/%s: %s: it would let task-runner Pods reach a cloud metadata address:\n- %s\nadd the metadata ranges to the ipBlock's except, or exclude task runners from its podSelector (%s DoesNotExist)",
		np.Namespace, np.Name, metadataRule, strings.Join(msgs, "\n- "), v.scope.SelectorText())), outcomeDenied)
}

// decode reads the NetworkPolicy of req (nil for a DELETE, which carries
// none); skipped says why it is admitted unread (an excluded namespace).
func (v NetworkPolicyValidator) decode(req admission.Request) (np *networkingv1.NetworkPolicy, skipped string, err error) {
	if req.Kind.Group != networkingv1.GroupName || req.Kind.Kind != "NetworkPolicy" {
		return nil, "", badRequest(fmt.Errorf("expected a networking.k8s.io/v1 NetworkPolicy, got %s", req.Kind.String()))
	}
	if req.Operation == admissionv1.Delete {
		if v.scope.Excluded(req.Namespace) {
			return nil, scope.NeverIntercepted(req.Namespace), nil
		}
		return nil, "", nil
	}
	if len(req.Object.Raw) == 0 {
		return nil, "", badRequest(fmt.Errorf("request %s for NetworkPolicy %s/%s carries no object", req.Operation, req.Namespace, req.Name))
	}
	if v.scope.Excluded(req.Namespace) {
		return nil, scope.NeverIntercepted(req.Namespace), nil
	}
	np = &networkingv1.NetworkPolicy{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Object.Raw, np); err != nil {
		return nil, "", badRequest(fmt.Errorf("decoding NetworkPolicy %s/%s: %w", req.Namespace, req.Name, err))
	}
	np.Namespace = req.Namespace
	return np, "", nil
}

// managedPolicy decides a write of the managed policy: kestra-guard's own
// are admitted, as is anything in a namespace being deleted (the namespace
// controller empties it), not guarded or off; in a runner namespace every
// other CREATE, UPDATE or DELETE is refused (admitted with a warning in
// audit mode). Elsewhere ok is false: a CREATE or UPDATE is judged as
// any other policy, and a DELETE is admitted (the controller recreates it
// where task runners were admitted).
func (v NetworkPolicyValidator) managedPolicy(req admission.Request, ns *corev1.Namespace, runnerNS bool) (d decision, ok bool) {
	user := req.UserInfo.Username
	mode, _ := v.scope.Mode(ns)
	switch {
	case v.Self != "" && user == v.Self:
		return decided(admission.Allowed("kestra-guard's own write of its managed policy"), outcomeSkipped), true
	case ns.DeletionTimestamp != nil:
		return decided(admission.Allowed("namespace "+ns.Name+" is being deleted"), outcomeSkipped), true
	case !v.Config.ManagedNetworkPolicy.Enabled || mode == scope.Off:
		return decided(admission.Allowed("the managed policy is not kept here"), outcomeSkipped), true
	case !runnerNS && req.Operation == admissionv1.Delete:
		return decided(admission.Allowed("the controller recreates it where task runners were admitted"), outcomeSkipped), true
	case !runnerNS:
		return decision{}, false
	}
	msg := fmt.Sprintf("%s of NetworkPolicy %s/%s by %s: only kestra-guard changes its managed policy in a runner namespace (it blocks metadata egress for every task there); set the namespace's %s label to off to stop keeping it",
		strings.ToLower(string(req.Operation)), req.Namespace, managed.Name, user, scope.ModeLabel)
	v.Metrics.violation(metadataRule, string(policy.Deny), string(mode))
	log := v.Log.WithValues("uid", req.UID, "namespace", req.Namespace, "networkPolicy", managed.Name, "operation", req.Operation, "user", user, "mode", mode)
	if mode == scope.Audit {
		log.Info("admitted a change of the managed policy by another identity")
		return decided(admission.Allowed("").WithWarnings("kestra-guard audit: enforce would deny: "+msg), outcomeAdmitted), true
	}
	log.Info("denied a change of the managed policy by another identity")
	return decided(admission.Denied("kestra-guard denied the "+msg), outcomeDenied), true
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

// requestName is the name of the NetworkPolicy of req: the request's, or,
// for an item of a deletecollection (which the API server admits with an
// empty name), the old object's.
func requestName(req admission.Request) string {
	if req.Name != "" || len(req.OldObject.Raw) == 0 {
		return req.Name
	}
	var old struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
		return ""
	}
	return old.Metadata.Name
}
