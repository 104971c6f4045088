package integration

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// crdBacked kinds need CRDs this control plane does not have; they are
// checked for shape, not applied.
var crdBacked = map[string]bool{"ServiceMonitor": true, "Certificate": true, "Issuer": true}

// The chart renders for every supported value set, and what it renders is
// accepted by the real API server's schema validation (server-side apply).
func TestChartAppliesToTheAPIServer(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()
	cp.CreateNamespace(t, framework.GuardNamespace, nil)
	sets := map[string]map[string]any{
		"defaults":        nil,
		"audit":           {"mode": "audit", "runnerNamespaces": []any{"kestra-runners"}},
		"cert-manager":    {"certificates": map[string]any{"mode": "certManager"}},
		"existing":        {"certificates": map[string]any{"mode": "secret", "secretName": "my-tls", "caBundle": "Y2E="}},
		"network-policy":  {"networkPolicy": map[string]any{"enabled": true, "metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{}}}}},
		"service-monitor": {"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}},
		"in-tree":         {"admission": map[string]any{"mode": "inTree"}, "mode": "audit", "policy": map[string]any{"rules": map[string]any{"no-host-ports": false}}},
		"both":            {"admission": map[string]any{"mode": "both"}, "runnerNamespaces": []any{"kestra-runners"}},
		"strict-egress": {"managedNetworkPolicy": map[string]any{"strict": true, "allowedCIDRs": []any{"10.0.0.0/8"}},
			"policy": map[string]any{"rules": map[string]any{"allowed-registries": "deny"}, "allowedRegistries": []any{"ghcr.io/kestra-io"}}},
	}
	for name, values := range sets {
		t.Run(name, func(t *testing.T) {
			objs, err := chart.Render("kestra-guard", framework.GuardNamespace, values)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]bool{}
			for _, o := range objs {
				kinds[o.GetKind()] = true
				if crdBacked[o.GetKind()] {
					if o.GetAPIVersion() == "" || o.Object["spec"] == nil {
						t.Errorf("%s %s has no apiVersion or spec", o.GetKind(), o.GetName())
					}
					continue
				}
				err := framework.Apply(ctx, cp.Client, o, client.DryRunAll)
				if err != nil {
					t.Errorf("%s %s refused by the API server: %v", o.GetKind(), o.GetName(), err)
				}
			}
			for _, k := range []string{"Deployment", "Service", "ServiceAccount", "ClusterRole", "Role", "PodDisruptionBudget", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ConfigMap"} {
				if !kinds[k] {
					t.Errorf("no %s rendered", k)
				}
			}
			want := map[string]string{"cert-manager": "Certificate", "network-policy": "NetworkPolicy", "service-monitor": "ServiceMonitor",
				"in-tree": "ValidatingAdmissionPolicyBinding", "both": "MutatingAdmissionPolicyBinding"}[name]
			if want != "" && !kinds[want] {
				t.Errorf("value set %s renders no %s", name, want)
			}
		})
	}
}

// values.schema.json refuses bad values with a message naming the field.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"unknown mode":                    {map[string]any{"mode": "block"}, "mode"},
		"bad CIDR":                        {map[string]any{"policy": map[string]any{"metadataCIDRs": []any{"169.254.0.0"}}}, "metadataCIDRs"},
		"negative replicas":               {map[string]any{"replicaCount": -1}, "replicaCount"},
		"unknown action":                  {map[string]any{"policy": map[string]any{"rules": map[string]any{"no-host-path": "block"}}}, "no-host-path"},
		"root mutation":                   {map[string]any{"policy": map[string]any{"mutation": map[string]any{"runAsUser": 0}}}, "runAsUser"},
		"secret mode, no secret":          {map[string]any{"certificates": map[string]any{"mode": "secret"}}, "secretName"},
		"secret mode, no CA":              {map[string]any{"certificates": map[string]any{"mode": "secret", "secretName": "tls"}}, "caBundle"},
		"unknown admission mode":          {map[string]any{"admission": map[string]any{"mode": "cel"}}, "/admission/mode"},
		"selector without objectSelector": {map[string]any{"taskRunnerSelector": "kestra.io/taskrun-id,team=data"}, "webhook.objectSelector"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := chart.Render("kestra-guard", "kestra-guard", tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a schema error naming %q, got %v", tc.want, err)
			}
		})
	}
}

// helm lint passes on the chart, with Helm's own linter.
func TestHelmLint(t *testing.T) {
	res := lint.All(chart.Dir(), nil, "kestra-guard", false)
	for _, m := range res.Messages {
		if m.Severity > support.InfoSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}
