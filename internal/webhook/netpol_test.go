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
			e, err := policy.NewEngine(cfg.Policy)
			if err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "etl"}}).Build()
			g, err := NewGuard(Guard{Engine: e, Config: cfg, Reader: c, Live: c, Writer: c, Log: logr.Discard()})
			if err != nil {
				t.Fatal(err)
			}
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
