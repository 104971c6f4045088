package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/audit"
	"github.com/kestra-guard/kestra-guard/internal/cli"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

type auditOutput struct {
	Results []struct {
		Kind, Namespace, Name string
		Allowed               bool
		Violations            []struct{ Rule, Field string }
	}
}

func runAudit(t *testing.T, args ...string) (int, auditOutput, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, append([]string{"audit"}, args...), nil)
	var doc auditOutput
	if code != 2 {
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("exit %d, output is not JSON: %v\n%s%s", code, err, out.String(), errOut.String())
		}
	}
	return code, doc, errOut.String()
}

func (o auditOutput) rules(kind, ns, name string) []string {
	for _, r := range o.Results {
		if r.Kind == kind && r.Namespace == ns && r.Name == name {
			var ids []string
			for _, v := range r.Violations {
				if !slices.Contains(ids, v.Rule) {
					ids = append(ids, v.Rule)
				}
			}
			return ids
		}
	}
	return nil
}

// Pods created before kestra-guard was installed are listed by audit with
// their rule IDs, and so is a policy that reopens metadata egress.
func TestAuditCommand(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()
	cp.CreateNamespace(t, "legacy", map[string]string{scope.RunnerLabel: "true"})
	cp.CreateNamespace(t, "apps", nil)
	for _, o := range []client.Object{
		badPod("legacy", "bad"), allowAll("legacy", "allow-all"),
		func() *corev1.Pod {
			p := kestraDefaultPod("apps", "web")
			p.Labels = map[string]string{"app": "web"}
			return p
		}(),
		kestraDefaultPod("apps", "task"),
	} {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	admin := cp.Kubeconfig(t, "admin", "system:masters")

	code, doc, stderr := runAudit(t, "--kubeconfig", admin, "-A", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (violations found); stderr: %s", code, stderr)
	}
	if got := doc.rules("Pod", "legacy", "bad"); !slices.Contains(got, "no-host-network") || !slices.Contains(got, "no-host-path") || !slices.Contains(got, "run-as-non-root") {
		t.Errorf("legacy/bad rules = %v", got)
	}
	if got := doc.rules("NetworkPolicy", "legacy", "allow-all"); !slices.Equal(got, []string{"metadata-egress-blocked"}) {
		t.Errorf("legacy/allow-all rules = %v, want metadata-egress-blocked", got)
	}
	if got := doc.rules("Pod", "apps", "task"); !slices.Contains(got, "metadata-egress-blocked") || !slices.Contains(got, "read-only-root-filesystem") {
		t.Errorf("apps/task rules = %v", got)
	}
	if got := doc.rules("Pod", "apps", "web"); got != nil {
		t.Errorf("a Pod that is not a task runner was audited: %v", got)
	}

	code, doc, _ = runAudit(t, "--kubeconfig", admin, "-n", "apps", "-o", "json")
	if code != 1 || doc.rules("Pod", "legacy", "bad") != nil || doc.rules("Pod", "apps", "task") == nil {
		t.Errorf("-n apps: exit %d, results %+v", code, doc.Results)
	}

	nobody := cp.Kubeconfig(t, "nobody")
	code, _, stderr = runAudit(t, "--kubeconfig", nobody, "-A")
	if code != 2 || !strings.Contains(stderr, `lack permission to list namespaces cluster-wide (RBAC verb "list" on "namespaces")`) {
		t.Errorf("exit %d, stderr %q: want a clear permission error", code, stderr)
	}
}

var policyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// A PolicyReport appears for a namespace with violations and is updated,
// then removed, as Pods are fixed or deleted.
func TestBackgroundAuditPolicyReports(t *testing.T) {
	g := framework.RunGuarded(t, nil, func(c *config.Config) { c.Audit.Enabled = false }, framework.WithPolicyReportCRD)
	ctx := context.Background()
	g.CreateNamespace(t, "kestra-audit", map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"})
	recorder := events.NewFakeRecorder(100)
	compiled, err := g.Config.Compile()
	if err != nil {
		t.Fatal(err)
	}
	bg := &audit.Background{
		Auditor: &audit.Auditor{Reader: g.Client, Config: compiled},
		Client:  g.Client, Log: logr.Discard(), PolicyReports: true, Violations: audit.NewViolationsGauge(),
		Events: true, Recorder: recorder,
	}
	// events counts the Events emitted since the last call.
	events := func() int {
		n := 0
		for {
			select {
			case <-recorder.Events:
				n++
			default:
				return n
			}
		}
	}
	report := func() (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyReportGVK)
		return u, g.Client.Get(ctx, client.ObjectKey{Namespace: "kestra-audit", Name: audit.ReportName}, u)
	}
	failing := func(u *unstructured.Unstructured) map[string]bool {
		out := map[string]bool{}
		results, _, _ := unstructured.NestedSlice(u.Object, "results")
		for _, r := range results {
			m := r.(map[string]any)
			res := m["resources"].([]any)[0].(map[string]any)
			out[res["name"].(string)+":"+m["rule"].(string)] = true
		}
		return out
	}

	for _, p := range []*corev1.Pod{badPod("kestra-audit", "bad"), kestraDefaultPod("kestra-audit", "plain")} {
		if err := g.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := bg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := report()
	if err != nil {
		t.Fatalf("no PolicyReport for a namespace with violations: %v", err)
	}
	if f := failing(u); !f["bad:no-host-network"] || !f["plain:read-only-root-filesystem"] {
		t.Errorf("report results = %v", f)
	}
	// The violations gauge: one series per rule and namespace with
	// violations, none for a rule that no longer fails there.
	series := func() map[string]float64 {
		out := map[string]float64{}
		ch := make(chan prometheus.Metric, 100)
		bg.Violations.Collect(ch)
		close(ch)
		for m := range ch {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			l := map[string]string{}
			for _, p := range d.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["rule"]+"/"+l["namespace"]] = d.GetGauge().GetValue()
		}
		return out
	}
	// Three containers in each Pod: each one a violation of read-only-root-filesystem.
	if got := series(); got["no-host-network/kestra-audit"] != 1 || got["read-only-root-filesystem/kestra-audit"] != 6 {
		t.Errorf("violations gauge after the first pass: %v; want no-host-network 1 and read-only-root-filesystem 6 in kestra-audit", got)
	}
	if n := events(); n != 1 {
		t.Errorf("%d events for a namespace's first findings, want 1", n)
	}
	if err := bg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := events(); n != 0 {
		t.Errorf("%d events when nothing changed, want none", n)
	}

	if err := g.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kestra-audit", Name: "bad"}}); err != nil {
		t.Fatal(err)
	}
	if err := bg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err = report(); err != nil {
		t.Fatal(err)
	}
	if f := failing(u); f["bad:no-host-network"] || !f["plain:read-only-root-filesystem"] {
		t.Errorf("after deleting the bad Pod, report results = %v", f)
	}
	if got := series(); got["read-only-root-filesystem/kestra-audit"] != 3 {
		t.Errorf("violations gauge after deleting the bad Pod: %v; want read-only-root-filesystem 3 in kestra-audit", got)
	} else if _, ok := got["no-host-network/kestra-audit"]; ok {
		t.Errorf("violations gauge after deleting the only Pod with the host network: %v; want no no-host-network series", got)
	}
	if n := events(); n != 1 {
		t.Errorf("%d events after the findings changed, want 1", n)
	}

	if err := g.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kestra-audit", Name: "plain"}}); err != nil {
		t.Fatal(err)
	}
	if err := bg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := report(); err == nil {
		t.Error("the PolicyReport of a clean namespace should be removed")
	}
	if got := series(); len(got) != 0 {
		t.Errorf("violations gauge of a clean cluster: %v; want no series", got)
	}
}

// The server's background audit reads namespaces, NetworkPolicies and
// PolicyExceptions from its informer cache (which answers every list with
// a continue token it refuses) and Pods from the API server: a pass over
// a real cache judges the task runners and the policy that reopens egress.
func TestAuditReadsTheCache(t *testing.T) {
	cp := framework.RunControlPlane(t, framework.WithExceptionCRD)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	cp.CreateNamespace(t, "apps", nil)
	for _, p := range []*corev1.Pod{kestraDefaultPod("runners", "plain"), kestraDefaultPod("apps", "labelled")} {
		if err := cp.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	open := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: "open"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
	if err := cp.Client.Create(ctx, open); err != nil {
		t.Fatal(err)
	}
	informers, err := cache.New(cp.Config, cache.Options{Scheme: cp.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	cfg := config.Default()
	compiled, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	a := &audit.Auditor{Reader: cp.Client, Cache: informers, Config: compiled}
	var results []report.Result
	framework.Eventually(t, func() error {
		var err error
		if results, err = a.Run(ctx); err != nil {
			return err
		}
		if len(results) != 3 {
			return fmt.Errorf("%d results, want the two task runners and the policy: %+v", len(results), results)
		}
		return nil
	})
	for _, want := range []string{"Pod runners/plain", "Pod apps/labelled", "NetworkPolicy runners/open"} {
		if !slices.ContainsFunc(results, func(r report.Result) bool { return r.Kind+" "+r.Namespace+"/"+r.Name == want && len(r.Violations) > 0 }) {
			t.Errorf("no violation for %s in %+v", want, results)
		}
	}
}
