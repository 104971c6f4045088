package scope

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

func defaults(t *testing.T) *Scope {
	t.Helper()
	s, err := New(Config{Mode: Audit, TaskRunnerSelector: "kestra.io/taskrun-id", RunnerNamespaces: []string{"etl"}, Namespace: "kestra-guard"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// The mode of a namespace: its label, else the default; an unknown label
// enforces (fail closed) with a warning naming the namespace and the value.
func TestMode(t *testing.T) {
	s := defaults(t)
	for name, tc := range map[string]struct {
		labels  map[string]string
		want    Mode
		warning string
	}{
		"no label":      {nil, Audit, ""},
		"enforce label": {map[string]string{ModeLabel: "enforce"}, Enforce, ""},
		"off label":     {map[string]string{ModeLabel: "off"}, Off, ""},
		"unknown label": {map[string]string{ModeLabel: "Audit"}, Enforce, `namespace apps has kestra-guard.io/mode="Audit", expected enforce, audit or off; enforcing`},
		"empty label":   {map[string]string{ModeLabel: ""}, Enforce, "enforcing"},
	} {
		t.Run(name, func(t *testing.T) {
			got, warning := s.Mode(namespace("apps", tc.labels))
			if got != tc.want || (tc.warning == "") != (warning == "") || !strings.Contains(warning, tc.warning) {
				t.Errorf("Mode = %q, %q; want %q, %q", got, warning, tc.want, tc.warning)
			}
		})
	}
}

func TestNamespacesAndTaskRunners(t *testing.T) {
	s := defaults(t)
	for name, tc := range map[string]struct {
		got, want bool
	}{
		"kube-system is excluded":           {s.Excluded("kube-system"), true},
		"its own namespace is excluded":     {s.Excluded("kestra-guard"), true},
		"another namespace is not":          {s.Excluded("apps"), false},
		"listed runner namespace":           {s.RunnerNamespace("etl", nil), true},
		"labelled runner namespace":         {s.RunnerNamespace("x", map[string]string{RunnerLabel: "true"}), true},
		"runner label other than true":      {s.RunnerNamespace("x", map[string]string{RunnerLabel: "yes"}), false},
		"task-runner labels":                {s.TaskRunner(map[string]string{"kestra.io/taskrun-id": "a"}), true},
		"other labels":                      {s.TaskRunner(map[string]string{"app": "web"}), false},
		"guarded: runner namespace":         {s.GuardedNamespace("etl", nil, false, false), true},
		"guarded: holds the managed policy": {s.GuardedNamespace("apps", nil, true, false), true},
		"guarded: runs task runners":        {s.GuardedNamespace("apps", nil, false, true), true},
		"not guarded":                       {s.GuardedNamespace("apps", nil, false, false), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", name, tc.got, tc.want)
		}
	}
	if _, err := New(Config{TaskRunnerSelector: "a in (b"}); err == nil || !strings.Contains(err.Error(), "taskRunnerSelector") {
		t.Errorf("a bad selector: error %v, want one naming taskRunnerSelector", err)
	}
}

// The reopened-metadata-egress finding: a policy that allows everything
// reopens it, unless its podSelector excludes task runners (outside runner
// namespaces, where every Pod is one).
func TestMetadataReopenings(t *testing.T) {
	s := defaults(t)
	o := &policy.Options{Metadata: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}
	allowAll := func(sel metav1.LabelSelector) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "apps"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	}
	notRunners := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kestra.io/taskrun-id", Operator: metav1.LabelSelectorOpDoesNotExist}}}
	for name, tc := range map[string]struct {
		np       *networkingv1.NetworkPolicy
		runnerNS bool
		want     int
	}{
		"every Pod":                        {allowAll(metav1.LabelSelector{}), false, 1},
		"excludes task runners":            {allowAll(notRunners), false, 0},
		"excludes them in a runner ns too": {allowAll(notRunners), true, 1},
	} {
		t.Run(name, func(t *testing.T) {
			vs := ReopeningViolations(s.MetadataReopenings(tc.np, tc.runnerNS, o), policy.Warn)
			if len(vs) != tc.want {
				t.Fatalf("violations = %v, want %d", vs, tc.want)
			}
			for _, v := range vs {
				if v.Rule != policy.MetadataEgressBlockedID || v.Action != policy.Warn || v.Field != "spec.egress[0]" || v.Reason != "NetworkPolicy reopens metadata egress" {
					t.Errorf("violation = %+v", v)
				}
			}
		})
	}
}
