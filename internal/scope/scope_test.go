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
		"guarded: runner namespace":         {s.GuardedNamespace("etl", nil, false, false), true},
		"guarded: holds the managed policy": {s.GuardedNamespace("apps", nil, true, false), true},
		"guarded: runs task runners":        {s.GuardedNamespace("apps", nil, false, true), true},
		"not guarded":                       {s.GuardedNamespace("apps", nil, false, false), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", name, tc.got, tc.want)
		}
	}
}

// New is where the mode and the selector are validated: each bad field is
// named, with what was expected, all at once.
func TestNewValidates(t *testing.T) {
	for name, tc := range map[string]struct {
		c    Config
		want []string
	}{
		"valid":          {Config{Mode: Off, TaskRunnerSelector: "a=b"}, nil},
		"bad selector":   {Config{Mode: Audit, TaskRunnerSelector: "a in (b"}, []string{`taskRunnerSelector: "a in (b": expected a label selector such as kestra.io/taskrun-id`}},
		"empty selector": {Config{Mode: Audit}, []string{`taskRunnerSelector: "": expected a label selector`}},
		"unknown mode":   {Config{Mode: "Audit", TaskRunnerSelector: "a"}, []string{`mode: "Audit": expected enforce, audit or off`}},
		"both": {Config{Mode: "", TaskRunnerSelector: "!"}, []string{`mode: "": expected enforce, audit or off`,
			`taskRunnerSelector: "!": expected a label selector`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.c)
			if (err != nil) != (tc.want != nil) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want %q", err, w)
				}
			}
		})
	}
}

// Pod answers "does kestra-guard guard this Pod here, and how" for the
// webhooks, check and audit: never in an excluded namespace; every Pod of a
// runner namespace (listed, or labelled when the Namespace is read);
// elsewhere a Pod whose labels, or whose old Pod's labels, match the
// selector; in the namespace's mode.
func TestPod(t *testing.T) {
	s := defaults(t)
	runner := map[string]string{"kestra.io/taskrun-id": "a"}
	web := map[string]string{"app": "web"}
	for name, tc := range map[string]struct {
		ns     *corev1.Namespace
		labels []map[string]string
		want   Pod
	}{
		"task runner":               {namespace("apps", nil), []map[string]string{runner}, Pod{Guarded: true, Mode: Audit}},
		"other labels":              {namespace("apps", nil), []map[string]string{web}, Pod{Skipped: NotTaskRunner}},
		"no labels":                 {namespace("apps", nil), nil, Pod{Skipped: NotTaskRunner}},
		"old Pod was a task runner": {namespace("apps", nil), []map[string]string{web, runner}, Pod{Guarded: true, Mode: Audit}},
		"listed runner namespace":   {namespace("etl", nil), []map[string]string{web}, Pod{Guarded: true, RunnerNamespace: true, Mode: Audit}},
		"labelled runner namespace": {namespace("x", map[string]string{RunnerLabel: "true", ModeLabel: "off"}), []map[string]string{web},
			Pod{Guarded: true, RunnerNamespace: true, Mode: Off}},
		"runner label other than true": {namespace("x", map[string]string{RunnerLabel: "yes"}), []map[string]string{web}, Pod{Skipped: NotTaskRunner}},
		"namespace mode":               {namespace("apps", map[string]string{ModeLabel: "enforce"}), []map[string]string{runner}, Pod{Guarded: true, Mode: Enforce}},
		"unknown mode enforces": {namespace("apps", map[string]string{ModeLabel: "x"}), []map[string]string{runner},
			Pod{Guarded: true, Mode: Enforce, Warning: `kestra-guard: namespace apps has kestra-guard.io/mode="x", expected enforce, audit or off; enforcing`}},
		"kube-system":   {namespace("kube-system", nil), []map[string]string{runner}, Pod{Excluded: true, Skipped: "namespace kube-system is never intercepted"}},
		"own namespace": {namespace("kestra-guard", map[string]string{RunnerLabel: "true"}), []map[string]string{runner}, Pod{Excluded: true, RunnerNamespace: true, Skipped: "namespace kestra-guard is never intercepted"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := s.Pod(tc.ns, tc.labels...); got != tc.want {
				t.Errorf("Pod = %+v, want %+v", got, tc.want)
			}
		})
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
