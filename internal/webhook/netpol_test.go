package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// The NetworkPolicy webhook follows the configured action of
// metadata-egress-blocked, in a runner namespace listed by name.
func TestNetworkPolicyWebhookHonoursRuleAction(t *testing.T) {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: "etl"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	raw, _ := json.Marshal(np)
	for action, want := range map[policy.Action]struct {
		allowed bool
		warning string
	}{
		policy.Deny: {allowed: false},
		policy.Warn: {allowed: true, warning: "kestra-guard warning: metadata-egress-blocked: spec.egress[0] allows egress to every address (the rule has no \"to\")"},
		policy.Off:  {allowed: true},
	} {
		t.Run(string(action), func(t *testing.T) {
			cfg := config.Default()
			cfg.RunnerNamespaces = []string{"etl"}
			cfg.Policy.Rules = map[string]policy.Action{"metadata-egress-blocked": action}
			c := fake.NewClientBuilder().WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "etl"}}).Build()
			g := newGuard(t, cfg, Guard{Reader: c, Live: c, Writer: c, Log: logr.Discard()})
			resp := NetworkPolicyValidator{Guard: g}.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "u", Kind: metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, Namespace: "etl", Name: "allow-all",
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
			}})
			if resp.Allowed != want.allowed {
				t.Fatalf("allowed = %v (%v), want %v", resp.Allowed, resp.Result, want.allowed)
			}
			if !want.allowed && !strings.Contains(resp.Result.Message, "metadata-egress-blocked") {
				t.Errorf("denial %q does not name the rule", resp.Result.Message)
			}
			if got := strings.Join(resp.Warnings, "\n"); got != want.warning {
				t.Errorf("warnings = %q, want %q", got, want.warning)
			}
		})
	}
}

// Only kestra-guard changes its managed policy in a runner namespace: any
// other identity's CREATE, UPDATE or DELETE is refused (a warning in audit
// mode); the namespace controller emptying a terminating namespace, a
// namespace whose mode is off, and DELETE outside runner namespaces pass;
// CREATE and UPDATE outside runner namespaces are judged as any policy.
func TestManagedPolicyWritesByOthers(t *testing.T) {
	const self = "system:serviceaccount:kestra-guard:kestra-guard"
	managedRaw, _ := json.Marshal(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "kestra-guard-block-metadata"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}})
	ns := func(name string, labels map[string]string, terminating bool) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if terminating {
			now := metav1.Now()
			n.DeletionTimestamp, n.Finalizers = &now, []string{"kubernetes"}
		}
		return n
	}
	cfg := config.Default()
	cfg.RunnerNamespaces = []string{"etl"}
	c := fake.NewClientBuilder().WithObjects(
		ns("etl", nil, false), ns("audited", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"}, false),
		ns("off", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "off"}, false), ns("apps", nil, false),
		ns("gone", map[string]string{scope.RunnerLabel: "true"}, true),
	).Build()
	g := newGuard(t, cfg, Guard{Reader: c, Live: c, Writer: c, Log: logr.Discard(), Self: self})
	for name, tc := range map[string]struct {
		ns, user string
		op       admissionv1.Operation
		allowed  bool
		message  string // in the denial or the warning
	}{
		"user updates it":                            {ns: "etl", user: "alice", op: admissionv1.Update, message: "kestra-guard denied the update of NetworkPolicy etl/kestra-guard-block-metadata by alice: only kestra-guard changes its managed policy"},
		"user deletes it":                            {ns: "etl", user: "alice", op: admissionv1.Delete, message: "kestra-guard denied the delete of NetworkPolicy etl/kestra-guard-block-metadata by alice"},
		"user creates it":                            {ns: "etl", user: "alice", op: admissionv1.Create, message: "denied the create"},
		"kestra-guard applies it":                    {ns: "etl", user: self, op: admissionv1.Update, allowed: true},
		"kestra-guard deletes it":                    {ns: "etl", user: self, op: admissionv1.Delete, allowed: true},
		"audit mode warns":                           {ns: "audited", user: "alice", op: admissionv1.Delete, allowed: true, message: "kestra-guard audit: enforce would deny: delete of NetworkPolicy audited/kestra-guard-block-metadata by alice"},
		"mode off":                                   {ns: "off", user: "alice", op: admissionv1.Delete, allowed: true},
		"namespace being deleted":                    {ns: "gone", user: "system:serviceaccount:kube-system:namespace-controller", op: admissionv1.Delete, allowed: true},
		"delete outside runner namespaces":           {ns: "apps", user: "alice", op: admissionv1.Delete, allowed: true},
		"update outside runner namespaces is judged": {ns: "apps", user: "alice", op: admissionv1.Update, allowed: true},
		"delete of another policy":                   {ns: "etl", user: "alice", op: admissionv1.Delete, allowed: true},
		"deletecollection item":                      {ns: "etl", user: "alice", op: admissionv1.Delete, message: "kestra-guard denied the delete of NetworkPolicy etl/kestra-guard-block-metadata by alice"},
	} {
		t.Run(name, func(t *testing.T) {
			req := admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
				Namespace: tc.ns, Name: "kestra-guard-block-metadata", Operation: tc.op}
			req.UserInfo.Username = tc.user
			switch name {
			case "delete of another policy":
				req.Name = "allow-web"
			case "deletecollection item": // admitted with an empty name
				req.Name = ""
			}
			if tc.op == admissionv1.Delete {
				req.OldObject.Raw = managedRaw
			} else {
				req.Object.Raw = managedRaw
			}
			resp := NetworkPolicyValidator{Guard: g}.Handle(context.Background(), admission.Request{AdmissionRequest: req})
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v (%v), want %v", resp.Allowed, resp.Result, tc.allowed)
			}
			got := strings.Join(resp.Warnings, "\n")
			if !tc.allowed {
				got = resp.Result.Message
			}
			if !strings.Contains(got, tc.message) {
				t.Errorf("message %q lacks %q", got, tc.message)
			}
		})
	}
}
