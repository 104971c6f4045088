package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// kgMetric is a kestra-guard metric name in a PromQL query.
var kgMetric = regexp.MustCompile(`\bkestra_guard_[a-zA-Z0-9_:]*`)

// chartQueries renders the chart with the dashboard and the alerts on and
// returns each PromQL query they hold, named by where it is.
func chartQueries(t *testing.T) map[string]string {
	t.Helper()
	objs, err := chart.Render("kestra-guard", framework.GuardNamespace, map[string]any{"metrics": map[string]any{
		"dashboard": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{}
	for _, o := range objs {
		switch {
		case o.GetKind() == "ConfigMap" && o.GetLabels()["grafana_dashboard"] == "1":
			data, _, _ := unstructured.NestedString(o.Object, "data", "kestra-guard.json")
			var dash struct {
				Panels []struct {
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
				Templating struct {
					List []struct {
						Name  string `json:"name"`
						Query any    `json:"query"`
					} `json:"list"`
				} `json:"templating"`
			}
			if err := json.Unmarshal([]byte(data), &dash); err != nil {
				t.Fatalf("the dashboard is not JSON: %v", err)
			}
			for _, p := range dash.Panels {
				for i, tg := range p.Targets {
					queries[fmt.Sprintf("dashboard panel %q target %d", p.Title, i)] = tg.Expr
				}
			}
			for _, v := range dash.Templating.List {
				if q, ok := v.Query.(map[string]any); ok {
					queries[fmt.Sprintf("dashboard variable %q", v.Name)] = fmt.Sprint(q["query"])
				}
			}
		case o.GetKind() == "PrometheusRule":
			b, _ := yaml.Marshal(o.Object["spec"])
			var spec struct {
				Groups []struct {
					Rules []struct{ Alert, Expr string } `json:"rules"`
				} `json:"groups"`
			}
			if err := yaml.Unmarshal(b, &spec); err != nil {
				t.Fatal(err)
			}
			for _, g := range spec.Groups {
				for i, r := range g.Rules {
					queries[fmt.Sprintf("alert %s (rule %d)", r.Alert, i)] = r.Expr
				}
			}
		}
	}
	if len(queries) < 10 {
		t.Fatalf("found %d queries in the rendered dashboard and alerts; want the dashboard's and the alerts'", len(queries))
	}
	return queries
}

// exported reads the metric names a /metrics page lists (histograms as
// their _bucket, _sum and _count series).
func exported(url string) (map[string]bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, nil
}

// Every query of the chart's dashboard and alerts names kestra-guard
// metrics, and each of them is on the /metrics page of a running
// kestra-guard once it has seen what the metric counts: admissions (admitted,
// denied, waived by an exception, matched by an expired one) and a
// background audit that finds a violation and both exceptions.
func TestDashboardAndAlertsQueryExportedMetrics(t *testing.T) {
	queries := chartQueries(t)
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	g := framework.RunGuarded(t, nil, func(c *config.Config) {
		c.Server.MetricsAddr = "127.0.0.1:" + strconv.Itoa(port)
		c.Audit.PolicyReports, c.Audit.Events = false, false
	})
	ctx := context.Background()
	const ns, auditNS = "kestra-metrics", "kestra-metrics-audit"
	g.CreateNamespace(t, ns, map[string]string{scope.RunnerLabel: "true"})
	g.CreateNamespace(t, auditNS, map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"})
	c := exceptionClient(t, g.ControlPlane.Config, nil)
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	expired := policyException(ns, "pip-install-old", &past)
	expired.Spec.Match.FlowID.Exact = "old-load"
	for _, e := range []client.Object{policyException(ns, "pip-install", nil), expired} {
		if err := c.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, func() error { return c.Create(ctx, writableRootPod(ns, "waived", "legacy-load")) })
	framework.Eventually(t, func() error {
		err := c.Create(ctx, writableRootPod(ns, "old", "old-load"))
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "pip-install-old expired") {
			return fmt.Errorf("want a denial naming the expired exception, got %v", err)
		}
		return nil
	})
	if err := c.Create(ctx, badPod(ns, "denied")); !apierrors.IsForbidden(err) {
		t.Fatalf("a Pod with hostNetwork in an enforced namespace: %v; want a denial", err)
	}
	// Admitted in audit mode: a running violation for the background audit,
	// which runs as the server starts.
	if err := c.Create(ctx, badPod(auditNS, "audited")); err != nil {
		t.Fatal(err)
	}
	if err := g.StopServer(); err != nil {
		t.Fatal(err)
	}
	g.StartServer()
	if err := g.WaitServing(); err != nil {
		t.Fatal(err)
	}

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		names, err := exported(url)
		missing = missing[:0]
		if err == nil {
			for where, q := range queries {
				found := kgMetric.FindAllString(q, -1)
				if len(found) == 0 {
					t.Fatalf("%s names no kestra-guard metric: %s", where, q)
				}
				for _, m := range found {
					if !names[m] {
						missing = append(missing, fmt.Sprintf("%s: %s", where, m))
					}
				}
			}
		}
		if err == nil && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Fatalf("not on %s after 60s (%v):\n%s", url, err, strings.Join(missing, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
