package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func exceptionClient(t *testing.T, cfg *rest.Config, warn rest.WarningHandler) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := rbacv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cfg = rest.CopyConfig(cfg)
	if warn != nil {
		cfg.WarningHandler = warn
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writableRootPod is Kestra's default Pod whose main container asks for a
// writable root filesystem: after mutation, read-only-root-filesystem is
// the only rule it breaks.
func writableRootPod(ns, name, flow string) *corev1.Pod {
	p := kestraDefaultPod(ns, name)
	p.Labels["kestra.io/namespace"], p.Labels["kestra.io/flow-id"], p.Labels["kestra.io/task-id"] = "company.team.etl", flow, "pip"
	p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(false)}
	return p
}

func policyException(ns, name string, expires *time.Time) *v1alpha1.PolicyException {
	e := &v1alpha1.PolicyException{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PolicyExceptionSpec{
			Rules:  []v1alpha1.RuleID{"read-only-root-filesystem"},
			Reason: "pip installs at run time until the image is rebuilt",
			Owner:  "team-data",
			Match: v1alpha1.Match{
				KestraNamespace: &v1alpha1.StringMatch{Prefix: "company.team"},
				FlowID:          &v1alpha1.StringMatch{Exact: "legacy-load"},
				Images:          []string{"python"},
			},
		},
	}
	if expires != nil {
		e.Spec.Expires = &metav1.Time{Time: *expires}
	}
	return e
}

// A PolicyException waives the rules it names for the Pods it matches, as
// read by the webhook from its informer cache; an expired one waives
// nothing and the denial says so.
func TestPolicyExceptionAdmission(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil, framework.WithExceptionCRD)
	ctx := context.Background()
	g.CreateNamespace(t, "kestra-exc", map[string]string{scope.RunnerLabel: "true"})
	c := exceptionClient(t, g.ControlPlane.Config, g.Warnings)

	if err := c.Create(ctx, policyException("kestra-exc", "pip-install", nil)); err != nil {
		t.Fatal(err)
	}

	t.Run("match: admitted with a warning naming the exception", func(t *testing.T) {
		framework.Eventually(t, func() error {
			g.Warnings.Take()
			return c.Create(ctx, writableRootPod("kestra-exc", "legacy", "legacy-load"))
		})
		warnings := strings.Join(g.Warnings.Take(), "\n")
		want := `kestra-guard: read-only-root-filesystem waived by PolicyException kestra-exc/pip-install (reason: "pip installs at run time until the image is rebuilt", owner: "team-data")`
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	})

	t.Run("no match: another flow is denied", func(t *testing.T) {
		err := c.Create(ctx, writableRootPod("kestra-exc", "other", "other-flow"))
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "read-only-root-filesystem: spec.containers[0].securityContext.readOnlyRootFilesystem") {
			t.Fatalf("want a denial for read-only-root-filesystem, got %v", err)
		}
	})

	t.Run("no match: a rule the exception does not name still denies", func(t *testing.T) {
		p := writableRootPod("kestra-exc", "hostnet", "legacy-load")
		p.Spec.HostNetwork = true
		err := c.Create(ctx, p)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no-host-network: spec.hostNetwork") {
			t.Fatalf("want a denial for no-host-network, got %v", err)
		}
		if strings.Contains(err.Error(), "read-only-root-filesystem: spec.containers[0]") {
			t.Errorf("the waived rule is still listed in the denial: %v", err)
		}
	})

	t.Run("expired: denied with a message saying so", func(t *testing.T) {
		past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		e := policyException("kestra-exc", "pip-install-old", &past)
		e.Spec.Match.FlowID.Exact = "old-load"
		if err := c.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		want := "PolicyException kestra-exc/pip-install-old expired at " + past.Format(time.RFC3339) + " and no longer waives read-only-root-filesystem"
		framework.Eventually(t, func() error {
			err := c.Create(ctx, writableRootPod("kestra-exc", "old", "old-load"))
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
				return &unexpected{err}
			}
			return nil
		})
	})
}

type unexpected struct{ err error }

func (u *unexpected) Error() string {
	if u.err == nil {
		return "admitted; want a denial naming the expired exception"
	}
	return "denial does not name the expired exception: " + u.err.Error()
}

// The API server refuses malformed exceptions with the field at fault.
func TestPolicyExceptionValidation(t *testing.T) {
	cp := framework.RunControlPlane(t, framework.WithExceptionCRD)
	ctx := context.Background()
	cp.CreateNamespace(t, "team", nil)
	c := exceptionClient(t, cp.Config, nil)
	tests := map[string]struct {
		tweak func(*v1alpha1.PolicyException)
		want  string
	}{
		"no reason":        {func(e *v1alpha1.PolicyException) { e.Spec.Reason = "" }, "spec.reason"},
		"no rule":          {func(e *v1alpha1.PolicyException) { e.Spec.Rules = nil }, "name the rules waived in spec.waive (or spec.rules)"},
		"unknown rule":     {func(e *v1alpha1.PolicyException) { e.Spec.Rules = []v1alpha1.RuleID{"everything"} }, `spec.rules[0]: Unsupported value: "everything"`},
		"exact and prefix": {func(e *v1alpha1.PolicyException) { e.Spec.Match.FlowID.Prefix = "x" }, "set exactly one of exact or prefix"},
		"values on a rule without values": {func(e *v1alpha1.PolicyException) {
			e.Spec.Rules = nil
			e.Spec.Waive = []v1alpha1.RuleWaiver{{Rule: "read-only-root-filesystem", Values: []string{"x"}}}
		}, "values can be named for no-host-path, drop-all-capabilities, allowed-registries and no-host-ports only"},
		"rule in waive and rules": {func(e *v1alpha1.PolicyException) {
			e.Spec.Waive = []v1alpha1.RuleWaiver{{Rule: "read-only-root-filesystem"}}
		}, "a rule is in spec.waive or in spec.rules, not both"},
		"trusting everyone": {func(e *v1alpha1.PolicyException) {
			e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{Groups: []string{"system:authenticated"}}
		}, "trusts anyone"},
		"service account not namespace/name": {func(e *v1alpha1.PolicyException) {
			e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{ServiceAccounts: []string{"kestra-worker"}}
		}, "spec.match.requestedBy.serviceAccounts[0]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := policyException("team", "bad", nil)
			tc.tweak(e)
			err := c.Create(ctx, e)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want Invalid naming %q, got %v", tc.want, err)
			}
		})
	}
	if err := c.Create(ctx, policyException("team", "good", nil)); err != nil {
		t.Fatalf("a valid exception is refused: %v", err)
	}
	narrow := policyException("team", "narrow", nil)
	narrow.Spec.Rules = nil
	narrow.Spec.Waive = []v1alpha1.RuleWaiver{{Rule: "no-host-path", Values: []string{"/mnt/backup"}}, {Rule: "read-only-root-filesystem"}}
	narrow.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{ServiceAccounts: []string{"kestra/kestra-worker"}, Groups: []string{"kestra-workers"}}
	if err := c.Create(ctx, narrow); err != nil {
		t.Fatalf("a valid narrow exception is refused: %v", err)
	}
}

// Creating an exception is a matter of RBAC: a user without create on
// policyexceptions is refused by the real API server; the sample
// ClusterRole the README points at, bound in one namespace, allows it there
// and nowhere else.
func TestPolicyExceptionRBAC(t *testing.T) {
	cp := framework.RunControlPlane(t, framework.WithExceptionCRD)
	ctx := context.Background()
	cp.CreateNamespace(t, "team-a", nil)
	cp.CreateNamespace(t, "team-b", nil)
	admin := exceptionClient(t, cp.Config, nil)
	imp := rest.CopyConfig(cp.Config)
	imp.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	alice := exceptionClient(t, imp, nil)

	if err := alice.Create(ctx, policyException("team-a", "mine", nil)); !apierrors.IsForbidden(err) {
		t.Fatalf("a user without RBAC created an exception: %v", err)
	}

	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "config", "samples", "policyexception-author.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if err := admin.Create(ctx, &role); err != nil {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice-exceptions"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "kestra-guard-exception-author"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "alice"}},
	}
	if err := admin.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, func() error { return alice.Create(ctx, policyException("team-a", "mine", nil)) })
	if err := alice.Create(ctx, policyException("team-b", "theirs", nil)); !apierrors.IsForbidden(err) {
		t.Errorf("the binding in team-a let alice create an exception in team-b: %v", err)
	}
}

// exceptionDoc is an unstructured PolicyException, to write what the typed
// client cannot (an expiry metav1.Time refuses).
func exceptionDoc(t *testing.T, ns, name, expires string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kestra-guard.io/v1alpha1", "kind": "PolicyException",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{
			"waive":  []any{map[string]any{"rule": "read-only-root-filesystem"}},
			"reason": "a typo in the expiry", "expires": expires,
			"match": map[string]any{"flowId": map[string]any{"exact": "legacy-load"}},
		},
	}}
	return u
}

// setExpiresPattern sets (or, with "", removes) the pattern the installed
// CRD puts on spec.expires: without it the CRD is the one releases before
// this check shipped, which stored what metav1.Time cannot read.
func setExpiresPattern(t *testing.T, c client.Client, pattern string) {
	t.Helper()
	ctx := context.Background()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := c.Get(ctx, client.ObjectKey{Name: "policyexceptions.kestra-guard.io"}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if err != nil || len(versions) != 1 {
		t.Fatalf("CRD versions: %v (%v)", versions, err)
	}
	v := versions[0].(map[string]any)
	path := []string{"schema", "openAPIV3Schema", "properties", "spec", "properties", "expires", "pattern"}
	if pattern == "" {
		unstructured.RemoveNestedField(v, path...)
	} else if err := unstructured.SetNestedField(v, pattern, path...); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
}

// One PolicyException kestra-guard cannot read, stored next to a valid one,
// stops nothing: the API server now refuses it, one stored under the older
// CRD is skipped and named, the valid one still waives from the first
// admission (the informer starts with the bad object in its first list, as
// after a restart) without delaying it, and deleting the valid one is seen.
func TestUnreadableExceptionNextToValid(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil, framework.WithExceptionCRD)
	ctx := context.Background()
	const ns = "kestra-typo"
	g.CreateNamespace(t, ns, map[string]string{scope.RunnerLabel: "true"})
	c := exceptionClient(t, g.ControlPlane.Config, g.Warnings)

	err := c.Create(ctx, exceptionDoc(t, ns, "a-typo", "2030-01-01t00:00:00z"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.expires") {
		t.Fatalf("the CRD accepts an expiry metav1.Time cannot read: %v", err)
	}

	// Stored under the older CRD, then the CRD is upgraded.
	setExpiresPattern(t, c, "")
	framework.Eventually(t, func() error { return c.Create(ctx, exceptionDoc(t, ns, "a-typo", "2030-01-01t00:00:00z")) })
	setExpiresPattern(t, c, `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)
	framework.Eventually(t, func() error {
		err := c.Create(ctx, exceptionDoc(t, ns, "probe", "2030-01-01t00:00:00z"))
		if err == nil {
			_ = c.Delete(ctx, exceptionDoc(t, ns, "probe", ""))
			return errors.New("the restored CRD does not refuse the expiry yet")
		}
		return nil
	})
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("PolicyException"))
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a-typo"}, stored); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(stored.Object, "spec", "expires"); got != "2030-01-01t00:00:00z" {
		t.Fatalf("stored expiry = %q", got)
	}
	if err := c.Create(ctx, policyException(ns, "pip-install", nil)); err != nil {
		t.Fatal(err)
	}

	t.Run("the valid exception waives, at once, and the bad one is named", func(t *testing.T) {
		var slowest time.Duration
		framework.Eventually(t, func() error {
			g.Warnings.Take()
			start := time.Now()
			err := c.Create(ctx, writableRootPod(ns, "legacy", "legacy-load"))
			slowest = max(slowest, time.Since(start))
			return err
		})
		// The webhook's timeout is 5s; a typed informer made every attempt wait for it.
		if slowest > 3*time.Second {
			t.Errorf("an admission took %v", slowest)
		}
		warnings := strings.Join(g.Warnings.Take(), "\n")
		for _, want := range []string{
			"read-only-root-filesystem waived by PolicyException " + ns + "/pip-install",
			"PolicyException " + ns + `/a-typo cannot be read and waives nothing: spec.expires: "2030-01-01t00:00:00z"`,
		} {
			if !strings.Contains(warnings, want) {
				t.Errorf("warnings lack %q:\n%s", want, warnings)
			}
		}
	})

	t.Run("deleting the valid exception is seen", func(t *testing.T) {
		if err := c.Delete(ctx, policyException(ns, "pip-install", nil)); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, func() error {
			err := c.Create(ctx, writableRootPod(ns, "after-delete", "legacy-load"))
			if err == nil {
				_ = c.Delete(ctx, writableRootPod(ns, "after-delete", "legacy-load"))
				return errors.New("admitted after the exception was deleted")
			}
			if !apierrors.IsForbidden(err) {
				return err
			}
			return nil
		})
	})
}

// match.requestedBy is compared with the user the real API server
// authenticated: the same Pod is admitted for the trusted user and denied,
// with the reason, for an administrator who copies its labels.
func TestPolicyExceptionRequestedBy(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil, framework.WithExceptionCRD)
	ctx := context.Background()
	const ns = "kestra-trust"
	g.CreateNamespace(t, ns, map[string]string{scope.RunnerLabel: "true"})
	admin := exceptionClient(t, g.ControlPlane.Config, g.Warnings)
	e := policyException(ns, "worker-only", nil)
	e.Spec.Match.RequestedBy = &v1alpha1.RequestedBy{Users: []string{"kestra-worker"}}
	if err := admin.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pods"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "delete"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker-pods"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "kestra-worker"}}}); err != nil {
		t.Fatal(err)
	}
	worker := g.ControlPlane.UserClient(t, "kestra-worker")

	framework.Eventually(t, func() error { return worker.Create(ctx, writableRootPod(ns, "by-worker", "legacy-load")) })
	err := admin.Create(ctx, writableRootPod(ns, "by-admin", "legacy-load"))
	want := "PolicyException " + ns + "/worker-only does not waive read-only-root-filesystem for this request: it trusts Pods requested by users kestra-worker"
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("want a denial saying %q, got %v", want, err)
	}
}
