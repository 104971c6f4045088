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

// Every validating Pod webhook entry receives pods/status writes (they may
// change labels), filtered to those that change labels or annotations; the
// mutating ones never do (status writes are the kubelet's, many a minute).
func TestPodStatusGoesToValidationOnly(t *testing.T) {
	objs, err := Render("kestra-guard", "kestra-guard", map[string]any{"runnerNamespaces": []any{"etl"}})
	if err != nil {
		t.Fatal(err)
	}
	var vwc admissionv1.ValidatingWebhookConfiguration
	var mwc admissionv1.MutatingWebhookConfiguration
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration":
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &vwc)
		case "MutatingWebhookConfiguration":
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &mwc)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	hasStatus := func(rules []admissionv1.RuleWithOperations) bool {
		for _, r := range rules {
			for _, res := range r.Resources {
				if res == "pods/status" {
					return r.Operations[0] == admissionv1.Update && len(r.Operations) == 1
				}
			}
		}
		return false
	}
	n := 0
	for _, w := range vwc.Webhooks {
		if !strings.HasSuffix(w.Name, ".pods.kestra-guard.io") {
			continue
		}
		n++
		if !hasStatus(w.Rules) {
			t.Errorf("%s: no UPDATE rule for pods/status", w.Name)
		}
		if len(w.MatchConditions) != 1 || !strings.Contains(w.MatchConditions[0].Expression, "request.?subResource.orValue('') != 'status'") {
			t.Errorf("%s: matchConditions %v, want status writes filtered to label and annotation changes", w.Name, w.MatchConditions)
		}
	}
	if n != 3 {
		t.Errorf("%d validating Pod webhooks, want 3 (runner, listed, task-runners)", n)
	}
	for _, w := range mwc.Webhooks {
		if hasStatus(w.Rules) {
			t.Errorf("%s: the mutating webhook receives pods/status", w.Name)
		}
	}
}
