package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/cli"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// unmaskedProc passes every rule of v0.1.0 and fails no-unmasked-proc, which
// came after it.
func unmaskedProc(ns, name string) *corev1.Pod {
	p := hardenedPod(ns, name)
	p.Spec.HostUsers = ptr.To(false) // the API allows Unmasked only there
	p.Spec.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
	return p
}

// A namespace pinned to v0.1.0 admits, through the real API server, a Pod
// that only a rule added after 0.1.0 refuses, warning that latest would deny
// it (and audit says the same); once the pin moves to latest, or the label
// is removed, the same Pod is refused. A pin kestra-guard does not know
// judges by latest.
func TestRuleSetPin(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	ctx := context.Background()
	g.CreateNamespace(t, "pinned", map[string]string{scope.RunnerLabel: "true", scope.EnforceVersionLabel: "v0.1.0"})

	g.Warnings.Take()
	if err := g.WarnClient.Create(ctx, unmaskedProc("pinned", "at-v0-1-0")); err != nil {
		t.Fatalf("pinned to v0.1.0, a Pod only no-unmasked-proc refuses must be admitted: %v", err)
	}
	warnings := strings.Join(g.Warnings.Take(), "\n")
	if want := "kestra-guard (rules v0.1.0) latest would deny: no-unmasked-proc: spec.containers[0].securityContext.procMount"; !strings.Contains(warnings, want) {
		t.Errorf("warnings lack %q:\n%s", want, warnings)
	}
	var got corev1.Pod
	if err := g.Client.Get(ctx, client.ObjectKey{Namespace: "pinned", Name: "at-v0-1-0"}, &got); err != nil {
		t.Fatal(err)
	}
	if sc := got.Spec.Containers[0].SecurityContext; sc == nil || sc.ProcMount == nil || *sc.ProcMount != corev1.UnmaskedProcMount {
		t.Fatalf("the API server dropped procMount (%+v): the test no longer shows a pin admitting what latest refuses", sc)
	}

	t.Run("audit lists what latest would deny", func(t *testing.T) {
		// audit reads the configuration serve runs with (the chart's, start gate on).
		cfg, err := yaml.Marshal(g.Config)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := cli.Execute(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut},
			[]string{"audit", "--config", path, "--kubeconfig", g.Kubeconfig(t, "admin", "system:masters"), "-n", "pinned"}, nil)
		want := "Pod pinned/at-v0-1-0: latest would deny (judged by the rules of v0.1.0): no-unmasked-proc: spec.containers[0].securityContext.procMount"
		if code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("exit %d (want 0: nothing v0.1.0 denies), output lacks %q:\n%s%s", code, want, out.String(), errOut.String())
		}
	})

	// The webhook reads namespaces from its cache: the new label shows after
	// a moment. Each attempt is a new Pod, admitted while the cache is old.
	relabel := func(value string) {
		t.Helper()
		var ns corev1.Namespace
		if err := g.Client.Get(ctx, client.ObjectKey{Name: "pinned"}, &ns); err != nil {
			t.Fatal(err)
		}
		if value == "" {
			delete(ns.Labels, scope.EnforceVersionLabel)
		} else {
			ns.Labels[scope.EnforceVersionLabel] = value
		}
		if err := g.Client.Update(ctx, &ns); err != nil {
			t.Fatal(err)
		}
	}
	attempt := 0
	refusedOnceCurrent := func(t *testing.T) {
		t.Helper()
		framework.Eventually(t, func() error {
			attempt++
			err := g.WarnClient.Create(ctx, unmaskedProc("pinned", fmt.Sprintf("attempt-%d", attempt)))
			if err == nil || !strings.Contains(err.Error(), "no-unmasked-proc") {
				return fmt.Errorf("want no-unmasked-proc to refuse the Pod, got %v", err)
			}
			return nil
		})
	}

	t.Run("moved to latest, the same Pod is refused", func(t *testing.T) {
		relabel("latest")
		refusedOnceCurrent(t)
		refused(t, g.Client.Create(ctx, unmaskedProc("pinned", "at-latest")), "no-unmasked-proc")
	})
	t.Run("without the label, the configured version (latest) refuses it", func(t *testing.T) {
		relabel("v0.1.0")
		framework.Eventually(t, func() error {
			attempt++
			return g.Client.Create(ctx, unmaskedProc("pinned", fmt.Sprintf("attempt-%d", attempt)))
		})
		relabel("")
		refusedOnceCurrent(t)
	})
	t.Run("an unknown pin judges by latest and says so", func(t *testing.T) {
		relabel("v0.1")
		refusedOnceCurrent(t)
		g.Warnings.Take()
		refused(t, g.WarnClient.Create(ctx, unmaskedProc("pinned", "unknown-pin")), "no-unmasked-proc")
		warnings := strings.Join(g.Warnings.Take(), "\n")
		if want := `namespace pinned has kestra-guard.io/enforce-version="v0.1", expected one of latest, v0.1.0`; !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	})
}
