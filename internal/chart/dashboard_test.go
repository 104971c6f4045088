package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The dashboard is off by default; on, it is one ConfigMap with the label
// Grafana's sidecar selects, holding files/dashboard.json as it is, whose
// every query reads the dashboard's data source variable. test/integration
// checks its metric names against a running server.
func TestDashboardConfigMap(t *testing.T) {
	find := func(values map[string]any) *unstructured.Unstructured {
		t.Helper()
		objs, err := Render("kestra-guard", "kestra-guard", values)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if _, ok, _ := unstructured.NestedString(o.Object, "data", "kestra-guard.json"); ok && o.GetKind() == "ConfigMap" {
				return o
			}
		}
		return nil
	}
	if find(nil) != nil {
		t.Error("the chart renders the dashboard with default values; want none until metrics.dashboard.enabled")
	}
	cm := find(map[string]any{"metrics": map[string]any{"dashboard": map[string]any{
		"enabled": true, "namespace": "monitoring", "annotations": map[string]any{"grafana_folder": "Security"}}}})
	if cm == nil {
		t.Fatal("metrics.dashboard.enabled=true rendered no dashboard ConfigMap")
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "monitoring" || cm.GetAnnotations()["grafana_folder"] != "Security" {
		t.Errorf("dashboard ConfigMap labels %v, namespace %q, annotations %v; want grafana_dashboard=1, monitoring, grafana_folder=Security",
			cm.GetLabels(), cm.GetNamespace(), cm.GetAnnotations())
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", "kestra-guard.json")
	file, err := os.ReadFile(filepath.Join(Dir(), "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if data+"\n" != string(file) && data != string(file) {
		t.Error("the ConfigMap's kestra-guard.json differs from files/dashboard.json")
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(data), &dash); err != nil {
		t.Fatalf("kestra-guard.json: %v", err)
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid (the sidecar would duplicate it)")
	}
	n := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: %d queries, data source %q; want queries on ${datasource}", p.Title, len(p.Targets), p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			n++
			if tg.Expr == "" || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %q on %q; want a query on ${datasource}", p.Title, tg.Expr, tg.Datasource.UID)
			}
		}
	}
	if n == 0 {
		t.Error("the dashboard has no query")
	}
}
