package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// promtoolPkg is Prometheus' own rule checker and tester, built from its Go
// module (go install, cached per version in the user's cache folder).
const promtoolPkg = "github.com/prometheus/prometheus/cmd/promtool@v0.316.0"

// promtool builds promtool, or skips the test outside CI when it cannot be
// built (no module proxy); in CI that is a failure.
func promtool(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "kestra-guard", strings.ReplaceAll(filepath.Base(promtoolPkg), "@", "-"))
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", promtoolPkg)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("building %s (go install): %v\n%s", promtoolPkg, err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("promtool cannot be built here, so the alerts are not tested: " + msg)
	}
	return filepath.Join(bin, "promtool")
}

// ruleGroups is the part of a PrometheusRule's spec the tests read.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// renderedRules renders the chart with the alerts on and returns the
// PrometheusRule's spec as YAML: the rule file Prometheus would load.
func renderedRules(t *testing.T) ([]byte, ruleGroups) {
	t.Helper()
	objs, err := Render("kestra-guard", "kestra-guard", map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		if o.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("PrometheusRule apiVersion %q; want monitoring.coreos.com/v1", o.GetAPIVersion())
		}
		b, err := yaml.Marshal(o.Object["spec"])
		if err != nil {
			t.Fatal(err)
		}
		var g ruleGroups
		if err := yaml.UnmarshalStrict(b, &g); err != nil {
			t.Fatalf("the PrometheusRule's spec: %v", err)
		}
		return b, g
	}
	t.Fatal("metrics.prometheusRule.enabled=true rendered no PrometheusRule")
	return nil, ruleGroups{}
}

// The alerts are off by default, and on with one value.
func TestPrometheusRuleOffByDefault(t *testing.T) {
	objs, err := Render("kestra-guard", "kestra-guard", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "PrometheusRule" {
			t.Error("the chart renders a PrometheusRule with default values; want none until metrics.prometheusRule.enabled")
		}
	}
	renderedRules(t)
}

// Every alert links to its own section of docs/runbook.md, has a severity,
// a summary and a description, and is exercised, firing, by the promtool
// tests.
func TestAlertsHaveRunbooksAndTests(t *testing.T) {
	_, g := renderedRules(t)
	runbook, err := os.ReadFile(filepath.Join(Dir(), "..", "..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,3} (.+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &tf); err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	quiet := map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	const base = "https://github.com/kestra-guard/kestra-guard/blob/main/docs/runbook.md#"
	n := 0
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			url := r.Annotations["runbook_url"]
			if !strings.HasPrefix(url, base) || !anchors[strings.TrimPrefix(url, base)] {
				t.Errorf("alert %s: runbook_url %q; want %s<anchor of a heading of docs/runbook.md>", r.Alert, url, base)
			}
			if a := strings.TrimPrefix(url, base); a != strings.ToLower(r.Alert) {
				t.Errorf("alert %s: runbook anchor %q; want its own section #%s", r.Alert, a, strings.ToLower(r.Alert))
			}
			if !slices.Contains([]string{"info", "warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q; want info, warning or critical", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description", r.Alert)
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: testdata/prometheus-rules.test.yaml must show it firing (%v) and staying quiet (%v)", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n == 0 {
		t.Fatal("the PrometheusRule has no alert")
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// The rule file the chart renders passes `promtool check rules` and the unit
// tests of testdata/prometheus-rules.test.yaml (`promtool test rules`), on
// synthetic series.
func TestAlertsPromtool(t *testing.T) {
	// promtool is built from the Prometheus module: minutes on a cold
	// cache. make alerts (which .ci/run calls) runs it; make test does not.
	if os.Getenv("KG_PROMTOOL") == "" {
		t.Skip("promtool test rules runs with make alerts (KG_PROMTOOL=1)")
	}
	rules, _ := renderedRules(t)
	tool := promtool(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules.test.yaml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out.String())
		}
	}
}
