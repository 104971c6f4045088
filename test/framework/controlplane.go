// Package framework starts the real control plane (kube-apiserver and etcd
// built from source by hack/build-control-plane.sh) for integration tests.
package framework

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
)

// ControlPlane is a running kube-apiserver with its etcd.
type ControlPlane struct {
	Env       *envtest.Environment
	Config    *rest.Config
	Client    client.Client
	Clientset *kubernetes.Clientset
}

// RepoRoot is the root of this repository.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BinaryDir builds the control plane when it is missing and returns the
// folder that holds kube-apiserver and etcd. It never skips: a build
// failure is an error.
func BinaryDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "build-control-plane.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the control plane with hack/build-control-plane.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts a control plane; call the returned stop function when done.
// Options may adjust the environment (CRDs, webhook install options)
// before it starts.
func Start(opts ...func(*envtest.Environment)) (*ControlPlane, func() error, error) {
	dir, err := BinaryDir()
	if err != nil {
		return nil, nil, err
	}
	// envtest's default of 20 s is too short on a loaded 2-core machine (seen:
	// kube-apiserver needed more while other packages compiled).
	env := &envtest.Environment{BinaryAssetsDirectory: dir, ControlPlaneStartTimeout: 90 * time.Second}
	// envtest turns the ServiceAccount admission plugin off; a real cluster
	// runs the API server's default plugins, and the ServiceAccount plugin
	// injects the token volume before any webhook sees a Pod. Dropping the
	// flag gives the default set (the signing key and issuer envtest sets).
	// No controller-manager runs here: CreateNamespace and EnsureNamespace
	// create each namespace's "default" ServiceAccount, as it would.
	env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", dir, err)
	}
	// The scheme kestra-guard's own clients have: the built-in kinds and its
	// PolicyException API.
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, nil, fmt.Errorf("creating a clientset: %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg, Client: c, Clientset: cs}
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		if err := cp.EnsureDefaultServiceAccount(ns); err != nil {
			_ = env.Stop()
			return nil, nil, err
		}
	}
	return cp, env.Stop, nil
}

// Apply applies obj with server-side apply as field manager "test".
func Apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured, opts ...client.ApplyOption) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), append(opts, client.FieldOwner("test"), client.ForceOwnership)...)
}

// FreePort is a TCP port free on loopback at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// RunControlPlane starts a control plane for one test and stops it with
// t.Cleanup.
func RunControlPlane(t testing.TB, opts ...func(*envtest.Environment)) *ControlPlane {
	t.Helper()
	cp, stop, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}
