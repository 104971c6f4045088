package exception

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func runnerPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kestra", Name: "p", Labels: map[string]string{
			NamespaceLabel: "company.team.etl", FlowLabel: "nightly-load", TaskLabel: "extract",
		}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init-files", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "main", Image: "ghcr.io/company/etl:1.2"}, {Name: "out-files", Image: "busybox"}},
		},
	}
}

func exc(name string, rules []string, tweak func(*v1alpha1.PolicyException)) v1alpha1.PolicyException {
	e := v1alpha1.PolicyException{ObjectMeta: metav1.ObjectMeta{Namespace: "kestra", Name: name},
		Spec: v1alpha1.PolicyExceptionSpec{Reason: "needs it", Owner: "team-data"}}
	for _, r := range rules {
		e.Spec.Rules = append(e.Spec.Rules, v1alpha1.RuleID(r))
	}
	if tweak != nil {
		tweak(&e)
	}
	return e
}

var (
	roMain   = policy.Violation{Rule: "read-only-root-filesystem", Field: "spec.containers[0].securityContext.readOnlyRootFilesystem", Action: policy.Deny}
	roInit   = policy.Violation{Rule: "read-only-root-filesystem", Field: "spec.initContainers[0].securityContext.readOnlyRootFilesystem", Action: policy.Deny}
	hostPath = policy.Violation{Rule: "no-host-path", Field: "spec.volumes[0].hostPath", Action: policy.Deny}
)

func exact(v string) *v1alpha1.StringMatch  { return &v1alpha1.StringMatch{Exact: v} }
func prefix(v string) *v1alpha1.StringMatch { return &v1alpha1.StringMatch{Prefix: v} }

func TestApply(t *testing.T) {
	all := []policy.Violation{roInit, roMain, hostPath}
	tests := map[string]struct {
		excs        []v1alpha1.PolicyException
		pod         func(*corev1.Pod)
		wantLeft    []policy.Violation
		wantWaived  []string // exception names, in violation order
		wantExpired []string
	}{
		"no exception": {wantLeft: all},
		"rule waived everywhere": {
			excs:     []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, nil)},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"ro", "ro"},
		},
		"every rule listed": {
			excs:       []v1alpha1.PolicyException{exc("both", []string{"read-only-root-filesystem", "no-host-path"}, nil)},
			wantWaived: []string{"both", "both", "both"},
		},
		"other namespace ignored": {
			excs:     []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) { e.Namespace = "other" })},
			wantLeft: all,
		},
		"kestra namespace exact": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.KestraNamespace = exact("company.team.etl")
			})},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"ro", "ro"},
		},
		"kestra namespace exact other": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.KestraNamespace = exact("company.team")
			})},
			wantLeft: all,
		},
		"kestra namespace prefix covers children": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.KestraNamespace = prefix("company.team")
			})},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"ro", "ro"},
		},
		"kestra namespace prefix stops at a dot": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.KestraNamespace = prefix("company.te")
			})},
			wantLeft: all,
		},
		"flow prefix": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.FlowID, e.Spec.Match.TaskID = prefix("nightly-"), exact("extract")
			})},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"ro", "ro"},
		},
		"task does not match": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.FlowID, e.Spec.Match.TaskID = prefix("nightly-"), exact("load")
			})},
			wantLeft: all,
		},
		"label missing on the Pod": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.FlowID = prefix("n")
			})},
			pod:      func(p *corev1.Pod) { delete(p.Labels, FlowLabel) },
			wantLeft: all,
		},
		"long flow id compared as Kestra cuts it": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.FlowID = exact(strings.Repeat("a", 62) + "-tail")
			})},
			pod:      func(p *corev1.Pod) { p.Labels[FlowLabel] = strings.Repeat("a", 62) },
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"ro", "ro"},
		},
		"image waives only its container": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem", "no-host-path"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.Images = []string{"ghcr.io/company/etl"}
			})},
			// busybox in init-files is not covered; nor is the Pod-level hostPath.
			wantLeft: []policy.Violation{roInit, hostPath}, wantWaived: []string{"ro"},
		},
		"images cover every container: Pod-level waived": {
			excs: []v1alpha1.PolicyException{exc("ro", []string{"read-only-root-filesystem", "no-host-path"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Match.Images = []string{"ghcr.io/company/*", "docker.io/library/busybox:latest"}
			})},
			wantWaived: []string{"ro", "ro", "ro"},
		},
		"expired waives nothing and says so": {
			excs: []v1alpha1.PolicyException{exc("old", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Expires = &metav1.Time{Time: now.Add(-time.Minute)}
			})},
			wantLeft: all, wantExpired: []string{"old"},
		},
		"expiry is exclusive": {
			excs: []v1alpha1.PolicyException{exc("old", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Expires = &metav1.Time{Time: now}
			})},
			wantLeft: all, wantExpired: []string{"old"},
		},
		"not yet expired": {
			excs: []v1alpha1.PolicyException{exc("new", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) {
				e.Spec.Expires = &metav1.Time{Time: now.Add(time.Hour)}
			})},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"new", "new"},
		},
		"expired one replaced by a live one is not reported": {
			excs: []v1alpha1.PolicyException{
				exc("b-new", []string{"read-only-root-filesystem"}, nil),
				exc("a-old", []string{"read-only-root-filesystem"}, func(e *v1alpha1.PolicyException) { e.Spec.Expires = &metav1.Time{Time: now.Add(-time.Hour)} }),
			},
			wantLeft: []policy.Violation{hostPath}, wantWaived: []string{"b-new", "b-new"},
		},
		"first by name wins": {
			excs:     []v1alpha1.PolicyException{exc("b", []string{"no-host-path"}, nil), exc("a", []string{"no-host-path"}, nil)},
			wantLeft: []policy.Violation{roInit, roMain}, wantWaived: []string{"a"},
		},
		"unrelated rule": {
			excs:     []v1alpha1.PolicyException{exc("x", []string{"no-host-network"}, nil)},
			wantLeft: all,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := runnerPod()
			if tc.pod != nil {
				tc.pod(pod)
			}
			out := Apply(tc.excs, pod, slices.Clone(all), now, kestraWorker)
			if !slices.Equal(out.Violations, tc.wantLeft) {
				t.Errorf("violations left = %v\nwant %v", out.Violations, tc.wantLeft)
			}
			var waived []string
			for _, w := range out.Waived {
				waived = append(waived, w.Exception.Name)
			}
			if !slices.Equal(waived, tc.wantWaived) {
				t.Errorf("waived by = %v, want %v", waived, tc.wantWaived)
			}
			var expired []string
			for _, x := range out.Expired {
				expired = append(expired, x.Exception.Name)
				if !strings.Contains(x.Message(), "expired at") {
					t.Errorf("expired message %q does not say it expired", x.Message())
				}
			}
			if !slices.Equal(expired, tc.wantExpired) {
				t.Errorf("expired = %v, want %v", expired, tc.wantExpired)
			}
		})
	}
}

func TestImageMatches(t *testing.T) {
	tests := []struct {
		pattern, image string
		want           bool
	}{
		{"busybox", "busybox", true},
		{"busybox", "docker.io/library/busybox:1.36", true},
		{"docker.io/library/busybox", "busybox@sha256:abc", true},
		{"busybox:latest", "busybox", true},
		{"busybox:1.36", "busybox", false},
		{"busybox:1.36", "busybox:1.37", false},
		{"busybox@sha256:abc", "busybox@sha256:abc", true},
		{"busybox@sha256:abc", "busybox:1.36", false},
		{"python", "pythonista", false},
		{"ghcr.io/company/*", "ghcr.io/company/etl:1", true},
		{"ghcr.io/company/*", "ghcr.io/companyx/etl:1", false},
		{"localhost:5000/etl", "localhost:5000/etl:2", true},
		{"localhost:5000/etl", "localhost:5001/etl:2", false},
		{"*", "busybox", false},
		{"", "busybox", false},
		{"busybox", "", false},
	}
	for _, tc := range tests {
		if got := ImageMatches(tc.pattern, tc.image); got != tc.want {
			t.Errorf("ImageMatches(%q, %q) = %v, want %v", tc.pattern, tc.image, got, tc.want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("x", 60) + "ab._-cd"
	if got, want := LabelValue(long), strings.Repeat("x", 60)+"ab"; got != want {
		t.Errorf("LabelValue(%q) = %q, want %q", long, got, want)
	}
}

func FuzzApply(f *testing.F) {
	f.Add("spec.containers[0].x", "ghcr.io/*", "company", "busybox")
	f.Add("spec.containers[99", "", "", "")
	f.Fuzz(func(t *testing.T, field, image, ns, podImage string) {
		pod := runnerPod()
		pod.Spec.Containers[0].Image = podImage
		e := exc("f", []string{"no-host-path"}, func(e *v1alpha1.PolicyException) {
			e.Spec.Match.Images = []string{image}
			e.Spec.Match.KestraNamespace = prefix(ns)
		})
		out := Apply([]v1alpha1.PolicyException{e}, pod, []policy.Violation{{Rule: "no-host-path", Field: field}}, now, kestraWorker)
		if len(out.Violations)+len(out.Waived) != 1 {
			t.Fatalf("violation lost or duplicated: %+v", out)
		}
	})
}
