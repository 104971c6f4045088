package policy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const expectAnnotation = "test.kestra-guard.io/expect"

func loadPod(t *testing.T, path string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &p
}

// Each file in testdata/pods is a whole Pod whose annotation names the rules
// it breaks (with the managed NetworkPolicy in place); a new case is a new file.
func TestPodFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/pods/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures found")
	}
	e := testEngine(t, func(c *Config) { c.Rules = nil })
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p := loadPod(t, f)
			want, ok := p.Annotations[expectAnnotation]
			if !ok {
				t.Fatalf("fixture lacks the %s annotation", expectAnnotation)
			}
			if got := ruleIDs(evaluate(e, p).Violations); got != want {
				t.Errorf("rules broken = %q, want %q", got, want)
			}
		})
	}
}

// ruleIDs lists the distinct rules of vs, in rule order, comma-separated.
func ruleIDs(vs []Violation) string {
	var ids []string
	for _, v := range vs {
		if !slices.Contains(ids, v.Rule) {
			ids = append(ids, v.Rule)
		}
	}
	return strings.Join(ids, ",")
}
