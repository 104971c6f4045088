package chart

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// values.schema.json refuses misspelt values at the top level and in the
// nested objects, naming the value.
func TestSchemaRefusesUnknownValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"top level":       {map[string]any{"replicaCont": 3}, "replicaCont"},
		"image":           {map[string]any{"image": map[string]any{"tagg": "v1"}}, "tagg"},
		"service monitor": {map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"lables": map[string]any{}}}}, "lables"},
		"pdb":             {map[string]any{"podDisruptionBudget": map[string]any{"minAvailble": 1}}, "minAvailble"},
		"network policy":  {map[string]any{"networkPolicy": map[string]any{"enable": true}}, "enable"},
		"log level":       {map[string]any{"logLevel": "verbose"}, "logLevel"},
		"pod labels":      {map[string]any{"podLabels": map[string]any{"team": 1}}, "podLabels"},
		"rule true":       {map[string]any{"policy": map[string]any{"rules": map[string]any{"no-host-path": true}}}, "no-host-path"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render("kestra-guard", "kestra-guard", tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a schema error naming %q, got %v", tc.want, err)
			}
		})
	}
}

// runnerNamespaces naming a namespace the webhooks never intercept fails the
// install, as the server's configuration would refuse it.
func TestRunnerNamespacesNeverIntercepted(t *testing.T) {
	for _, ns := range []string{"kube-system", "guard"} {
		t.Run(ns, func(t *testing.T) {
			_, err := Render("kestra-guard", "guard", map[string]any{"runnerNamespaces": []any{"etl", ns}})
			if err == nil || !strings.Contains(err.Error(), `runnerNamespaces[1]: "`+ns+`" is never intercepted`) {
				t.Errorf("want the render refused naming runnerNamespaces[1], got %v", err)
			}
		})
	}
	if _, err := Render("kestra-guard", "guard", map[string]any{"runnerNamespaces": []any{"etl"}}); err != nil {
		t.Errorf("a runner namespace of its own is fine: %v", err)
	}
}

// An unquoted `off` in a values file is the boolean false to YAML 1.1: the
// schema accepts it and the server reads it as off.
func TestRuleOffHoweverYAMLSpellsIt(t *testing.T) {
	for _, spelling := range []string{"off", "Off", "OFF", "no", "false", `"off"`} {
		t.Run(spelling, func(t *testing.T) {
			out, err := ConfigFromValues([]byte("policy:\n  rules:\n    no-host-path: "+spelling+"\n"), "kestra-guard")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(out, "ConfigMap")
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := cfg.Policy.Rules["no-host-path"]; got != policy.Off {
				t.Errorf("rules.no-host-path = %q, want off", got)
			}
		})
	}
}

// The PodDisruptionBudget exists only when a drain can keep one replica up.
func TestPDBOnlyWithReplicas(t *testing.T) {
	for replicas, want := range map[int]bool{0: false, 1: false, 2: true, 3: true} {
		objs, err := Render("kestra-guard", "kestra-guard", map[string]any{"replicaCount": replicas})
		if err != nil {
			t.Fatal(err)
		}
		if got := find(objs, "PodDisruptionBudget") != nil; got != want {
			t.Errorf("replicaCount %d: PodDisruptionBudget rendered = %t, want %t", replicas, got, want)
		}
	}
}

// The Pod values reach the Deployment, the ServiceMonitor and the config.
func TestPodValues(t *testing.T) {
	objs, err := Render("kestra-guard", "kestra-guard", map[string]any{
		"podAnnotations":    map[string]any{"example.com/team": "platform"},
		"podLabels":         map[string]any{"team": "platform", "app.kubernetes.io/name": "other"},
		"priorityClassName": "system-cluster-critical",
		"extraArgs":         []any{"--enable-http2"},
		"logLevel":          "debug",
		"metrics":           map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment")
	ann, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "annotations")
	lbl, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	prio, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "priorityClassName")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	if ann["example.com/team"] != "platform" || ann["checksum/config"] == "" {
		t.Errorf("pod annotations = %v", ann)
	}
	if lbl["team"] != "platform" || lbl["app.kubernetes.io/name"] != "kestra-guard" {
		t.Errorf("pod labels = %v (the selector labels must win)", lbl)
	}
	if prio != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q", prio)
	}
	if !slices.Equal(args, []string{"serve", "--config=/etc/kestra-guard/config.yaml", "--enable-http2"}) {
		t.Errorf("args = %v", args)
	}
	if sm := find(objs, "ServiceMonitor"); sm == nil || sm.GetLabels()["release"] != "prom" || sm.GetLabels()["app.kubernetes.io/name"] != "kestra-guard" {
		t.Errorf("ServiceMonitor labels: %v", sm)
	}
	cm := find(objs, "ConfigMap")
	s, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	cfg, err := config.Parse([]byte(s), "ConfigMap")
	if err != nil || cfg.Server.LogLevel != "debug" {
		t.Errorf("config logLevel = %q, %v", cfg.Server.LogLevel, err)
	}
}

// Rendered without a cluster (helm template, GitOps), the CA bundle comes
// from where the chart README says: the server in self mode (rendered
// empty), cert-manager's cainjector annotation, or the values.
func TestCABundleWithoutACluster(t *testing.T) {
	for name, tc := range map[string]struct {
		certs      map[string]any
		bundle     string
		annotation bool
	}{
		"self":        {map[string]any{"mode": "self"}, "", false},
		"certManager": {map[string]any{"mode": "certManager"}, "", true},
		"secret":      {map[string]any{"mode": "secret", "secretName": "tls", "caBundle": "Y2E="}, "Y2E=", false},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Render("kestra-guard", "kestra-guard", map[string]any{"certificates": tc.certs})
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, o := range objs {
				if o.GetKind() != "MutatingWebhookConfiguration" && o.GetKind() != "ValidatingWebhookConfiguration" {
					continue
				}
				seen++
				if _, ok := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok != tc.annotation {
					t.Errorf("%s: cainjector annotation = %t, want %t", o.GetKind(), ok, tc.annotation)
				}
				hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
				for _, h := range hooks {
					got, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
					if got != tc.bundle {
						t.Errorf("%s: caBundle = %q, want %q", o.GetKind(), got, tc.bundle)
					}
				}
			}
			if seen != 2 {
				t.Errorf("%d webhook configurations rendered, want 2", seen)
			}
		})
	}
}
