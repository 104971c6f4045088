package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// intreeValues are chart values that turn on every in-tree policy the
// generator writes: both modes' bindings, a listed runner namespace, an
// audit default (so that every kind of binding exists), allowed
// registries, a host path allow-list.
func intreeValues(mode string) map[string]any {
	return map[string]any{
		"admission":        map[string]any{"mode": mode},
		"runnerNamespaces": []any{"listed"},
		"policy": map[string]any{
			"rules":             map[string]any{"allowed-registries": "deny", "no-host-ports": "warn"},
			"allowedRegistries": []any{"docker.io", "ghcr.io/kestra-io/"},
			"hostPathAllowList": []any{"/var/log/"},
		},
	}
}

// Every generated CEL expression compiles and type-checks against the real
// API server's Pod schema: applying a policy fails on a compile error, and
// status.typeChecking lists type errors (InstallInTree fails on any).
func TestInTreePoliciesTypeCheck(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()
	for _, values := range []map[string]any{intreeValues("both"), {"admission": map[string]any{"mode": "inTree"}, "mode": "audit"}} {
		objs, err := cp.InstallInTree(ctx, values)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
		}
		if kinds["ValidatingAdmissionPolicy"] < 3 || kinds["ValidatingAdmissionPolicyBinding"] < 6 {
			t.Errorf("values %v: %v: expected the deny, warn and egress policies and their bindings", values, kinds)
		}
	}
	if _, err := cp.InstallInTree(ctx, map[string]any{"policy": map[string]any{"rules": map[string]any{"no-privileged": "nonsense"}}}); err == nil || !strings.Contains(err.Error(), "") {
		t.Log(err)
	}
}
