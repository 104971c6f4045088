package chart

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Every runner namespace, by label or listed by name in runnerNamespaces,
// falls under exactly one NetworkPolicy webhook entry, and it fails closed;
// other namespaces fall under the fail-open one only.
func TestNetworkPolicyWebhookFailsClosedForRunnerNamespaces(t *testing.T) {
	objs, err := Render("kestra-guard", "kestra-guard", map[string]any{"runnerNamespaces": []any{"kestra-runs", "etl"}})
	if err != nil {
		t.Fatal(err)
	}
	var vwc admissionv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		if o.GetKind() == "ValidatingWebhookConfiguration" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &vwc); err != nil {
				t.Fatal(err)
			}
		}
	}
	nsLabels := func(name string, extra map[string]string) labels.Set {
		l := labels.Set{"kubernetes.io/metadata.name": name}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		labels labels.Set
		want   admissionv1.FailurePolicyType
	}{
		{"listed by name", nsLabels("kestra-runs", nil), admissionv1.Fail},
		{"second listed name", nsLabels("etl", map[string]string{"team": "data"}), admissionv1.Fail},
		{"labelled", nsLabels("runners", map[string]string{"kestra-guard.io/runner": "true"}), admissionv1.Fail},
		{"listed and labelled", nsLabels("etl", map[string]string{"kestra-guard.io/runner": "true"}), admissionv1.Fail},
		{"other namespace", nsLabels("web", nil), admissionv1.Ignore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []admissionv1.FailurePolicyType
			for _, w := range vwc.Webhooks {
				if !strings.HasSuffix(w.Name, ".networkpolicies.kestra-guard.io") {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
				if err != nil {
					t.Fatal(err)
				}
				if sel.Matches(tc.labels) {
					got = append(got, *w.FailurePolicy)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("NetworkPolicy webhook entries matching %v have failure policies %v, want exactly [%s]", tc.labels, got, tc.want)
			}
		})
	}
}
