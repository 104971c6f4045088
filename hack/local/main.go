// Command local runs a local control plane (kube-apiserver and etcd built by
// hack/build-control-plane.sh) with kestra-guard installed from the chart's
// webhook configurations and configuration, writes .local/kubeconfig and
// runs until interrupted. `make run` runs it in the foreground; `make
// local-up` in the background.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run() error {
	// Installed first, so that a stop during start-up still stops the
	// control plane's processes instead of orphaning them.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	dir := filepath.Join(framework.RepoRoot(), ".local")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	fmt.Fprintln(os.Stderr, "local: starting kube-apiserver, etcd and kestra-guard ...")
	g, stop, err := framework.StartGuarded(nil, nil, framework.WithExceptionCRD, framework.WithPolicyReportCRD)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "local: stopping")
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "local:", err)
		}
		_ = os.Remove(filepath.Join(dir, "ready"))
	}()
	for name, labels := range map[string]map[string]string{
		"kestra-runners": {scope.RunnerLabel: "true", scope.ModeLabel: "enforce"},
		"kestra-audit":   {scope.RunnerLabel: "true", scope.ModeLabel: "audit"},
	} {
		if err := g.EnsureNamespace(name, labels); err != nil {
			return err
		}
	}
	user, err := g.Env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(kubeconfig+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf(`kestra-guard is running against a local control plane.

  export KUBECONFIG=%s

Namespaces: kestra-runners (every Pod is a task runner, enforce),
            kestra-audit (every Pod is a task runner, audit).
Press Ctrl-C to stop.
`, kubeconfig)
	<-sig
	return nil
}
