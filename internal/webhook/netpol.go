package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// NetworkPolicyValidator refuses, in guarded namespaces, a NetworkPolicy
// that would let task-runner Pods reach a metadata address. A namespace is
// guarded when it is a runner namespace or holds the managed policy (a task
// runner was admitted there).
type NetworkPolicyValidator struct{ *Guard }

func (v NetworkPolicyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	if req.Kind.Group != networkingv1.GroupName || req.Kind.Kind != "NetworkPolicy" {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("expected a networking.k8s.io/v1 NetworkPolicy, got %s", req.Kind.String()))
	}
	if len(req.Object.Raw) == 0 {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("request %s for NetworkPolicy %s/%s carries no object", req.Operation, req.Namespace, req.Name))
	}
	if v.Config.Excluded(req.Namespace) {
		return admission.Allowed("namespace " + req.Namespace + " is never intercepted")
	}
	np := &networkingv1.NetworkPolicy{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Object.Raw, np); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding NetworkPolicy %s/%s: %w", req.Namespace, req.Name, err))
	}
	np.Namespace = req.Namespace
	if np.Name == managed.Name {
		return admission.Allowed("the managed policy") // repaired by the controller if edited
	}
	ns, err := v.namespace(ctx, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	runnerNS := v.Config.RunnerNamespace(ns.Name, ns.Labels)
	guarded := runnerNS
	if !guarded {
		var mp networkingv1.NetworkPolicy
		err := v.Live.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: managed.Name}, &mp)
		if err != nil && !apierrors.IsNotFound(err) {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading the managed policy of %s: %w", ns.Name, err))
		}
		guarded = err == nil
	}
	mode, _ := v.namespaceMode(ns)
	action := v.Engine.Action(metadataRule) // the rule's configured action: deny, warn or off
	if !guarded || mode == config.Off || action == policy.Off || (!runnerNS && excludesTaskRunners(np, v.Config.TaskRunnerSelector)) {
		return admission.Allowed("")
	}
	openings := policy.PolicyOpenings(np, v.Engine.Options().Metadata)
	if len(openings) == 0 {
		return admission.Allowed("")
	}
	msgs := make([]string, len(openings))
	for i, op := range openings {
		msgs[i] = op.Field + " allows egress to " + op.Address
	}
	v.Metrics.violation(metadataRule, string(action), string(mode))
	log := v.Log.WithValues("uid", req.UID, "namespace", np.Namespace, "networkPolicy", np.Name, "mode", mode, "action", action)
	// admit lets the policy in, with one warning per opening.
	admit := func(logMsg, prefix string) admission.Response {
		log.Info(logMsg)
		v.Metrics.decision("networkpolicy", "admitted", start)
		warnings := make([]string, len(msgs))
		for i, m := range msgs {
			warnings[i] = prefix + metadataRule + ": " + m
		}
		return admission.Allowed("").WithWarnings(warnings...)
	}
	if action == policy.Warn {
		return admit("admitted NetworkPolicy that reopens metadata egress: the rule is set to warn", "kestra-guard warning: ")
	}
	if mode == config.Audit {
		return admit("admitted NetworkPolicy that reopens metadata egress", "kestra-guard audit: enforce would deny: ")
	}
	log.Info("denied NetworkPolicy that reopens metadata egress")
	v.Metrics.decision("networkpolicy", "denied", start)
	return admission.Denied(fmt.Sprintf("kestra-guard denied NetworkPolicy %s/%s: %s: it would let task-runner Pods reach a cloud metadata address:\n- %s\nadd the metadata ranges to the ipBlock's except, or exclude task runners from its podSelector (%s DoesNotExist)",
		np.Namespace, np.Name, metadataRule, strings.Join(msgs, "\n- "), v.Config.TaskRunnerSelector))
}

const metadataRule = policy.MetadataEgressBlockedID

// excludesTaskRunners reports whether the policy's podSelector can never
// select a task runner: it requires the task-runner label key to be absent.
// Any other selector may select one, since Pods choose their own labels.
func excludesTaskRunners(np *networkingv1.NetworkPolicy, taskRunnerSelector string) bool {
	sel, err := metav1.ParseToLabelSelector(taskRunnerSelector)
	if err != nil {
		return false
	}
	var keys []string
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, e := range sel.MatchExpressions {
		if e.Operator == metav1.LabelSelectorOpExists || e.Operator == metav1.LabelSelectorOpIn {
			keys = append(keys, e.Key)
		}
	}
	for _, e := range np.Spec.PodSelector.MatchExpressions {
		if e.Operator == metav1.LabelSelectorOpDoesNotExist && slices.Contains(keys, e.Key) {
			return true
		}
	}
	return false
}
