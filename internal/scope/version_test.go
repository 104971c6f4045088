package scope

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// The label wins over the configured version; an unknown one judges by
// latest and says so, naming the namespace, the label and what is accepted.
func TestEngineByLabel(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.RuleSetVersion = "v0.1.0"
	configured, err := policy.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := func(labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "runners", Labels: labels}}
	}
	cases := map[string]struct {
		ns      *corev1.Namespace
		version string
		warning string
	}{
		"no Namespace object (offline)":    {ns: nil, version: "v0.1.0"},
		"no label: the configured version": {ns: ns(nil), version: "v0.1.0"},
		"label latest wins":                {ns: ns(map[string]string{EnforceVersionLabel: "latest"}), version: "latest"},
		"label naming the next version":    {ns: ns(map[string]string{EnforceVersionLabel: policy.NextVersion}), version: policy.NextVersion},
		"malformed label: latest, warned": {ns: ns(map[string]string{EnforceVersionLabel: "0.1"}), version: "latest",
			warning: `namespace runners has kestra-guard.io/enforce-version="0.1", expected one of latest, v0.1.0`},
		"unknown version: latest, warned": {ns: ns(map[string]string{EnforceVersionLabel: "v9.0.0"}), version: "latest", warning: `"v9.0.0", expected one of latest`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, w := Engine(c.ns, configured)
			if e.Version() != c.version {
				t.Errorf("judged by %s, want %s", e.Version(), c.version)
			}
			if (c.warning == "") != (w == "") || !strings.Contains(w, c.warning) {
				t.Errorf("warning %q, want one containing %q", w, c.warning)
			}
		})
	}
}
