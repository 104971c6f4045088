package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/internal/server"
)

// GuardNamespace is where the chart is rendered in tests.
const GuardNamespace = "kestra-guard"

// Guarded is a control plane with kestra-guard serving its webhooks, as the
// chart installs them.
type Guarded struct {
	*ControlPlane
	Config config.Config
	// Warnings collects the admission warnings the API server returns.
	Warnings *WarningRecorder
	// WarnClient is a client whose warnings go to Warnings.
	WarnClient client.Client

	// LogOutput, when set before StartServer, receives the server's JSON logs.
	LogOutput io.Writer

	stopServer func() error
}

// prepare creates what the chart would: kestra-guard's namespace and, for
// self-managed certificates, the Secret cert-controller fills.
func (g *Guarded) prepare() error {
	if err := g.EnsureNamespace(GuardNamespace, nil); err != nil {
		return err
	}
	if g.Config.Server.CertMode != "self" {
		return nil
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: GuardNamespace, Name: g.Config.Server.CertSecret}}
	return g.Client.Create(context.Background(), sec)
}

// Serve compiles cfg once, as kestra-guard serve does, and runs the server
// in this process with it until ctx is done.
func Serve(ctx context.Context, cfg config.Config, rc *rest.Config, log logr.Logger) error {
	compiled, err := cfg.Compile()
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return server.Run(ctx, compiled, rc, log, InProcess)
}

// StartServer starts kestra-guard in this process.
func (g *Guarded) StartServer() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := TestLogger()
	if g.LogOutput != nil {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		log = zapr.NewLogger(zap.New(zapcore.NewCore(enc, zapcore.AddSync(g.LogOutput), zap.DebugLevel)))
	}
	if s := g.Config.Server; s.CertMode == "self" {
		// No kubelet mounts the certificate Secret here: write it to disk as one would.
		sync := &secretToDisk{reader: g.Client, key: types.NamespacedName{Namespace: g.Config.Namespace, Name: s.CertSecret}, dir: s.CertDir}
		go func() {
			if err := sync.Start(ctx); err != nil {
				log.Error(err, "writing the certificate Secret to disk")
			}
		}()
	}
	go func() { done <- Serve(ctx, g.Config, g.ControlPlane.Config, log) }()
	var once sync.Once
	var err error
	g.stopServer = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
}

// InProcess lets several servers run in the test process: each test (or
// replica) starts its own, and controller names would repeat.
func InProcess(o *manager.Options) { o.Controller.SkipNameValidation = ptr.To(true) }

// StopServer stops kestra-guard (as a SIGTERM would) and waits for it.
func (g *Guarded) StopServer() error { return g.stopServer() }

// SelfManagedCerts serves with certificates cert-controller keeps in a
// Secret, as in the cluster, written to disk as a kubelet would (StartServer
// runs secretToDisk); the API
// server reaches the webhook as localhost.
func SelfManagedCerts(dir string) (func(*config.Config), func(*envtest.Environment)) {
	return func(c *config.Config) {
			c.Server.CertMode, c.Server.CertDir = "self", dir
			c.Server.ExtraDNSNames = []string{"localhost"}
		}, func(env *envtest.Environment) {
			env.WebhookInstallOptions.LocalServingHostExternalName = "localhost"
		}
}

// WarningRecorder keeps every warning a client receives.
type WarningRecorder struct{ list []string }

func (w *WarningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.list = append(w.list, text)
}

// Take returns the warnings so far and forgets them.
func (w *WarningRecorder) Take() []string {
	out := w.list
	w.list = nil
	return out
}

// RenderedWebhooks renders the chart and returns its objects and webhook
// configurations.
func RenderedWebhooks(values map[string]any) ([]*unstructured.Unstructured, *admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration, config.Config, error) {
	var cfg config.Config
	objs, err := chart.Render("kestra-guard", GuardNamespace, values)
	if err != nil {
		return nil, nil, nil, cfg, err
	}
	var mwc admissionv1.MutatingWebhookConfiguration
	var vwc admissionv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		var err error
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &mwc)
		case "ValidatingWebhookConfiguration":
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &vwc)
		case "ConfigMap":
			data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
			cfg = config.Default()
			err = yaml.UnmarshalStrict([]byte(data), &cfg)
		}
		if err != nil {
			return nil, nil, nil, cfg, fmt.Errorf("chart object %s: %w", o.GetKind(), err)
		}
	}
	return objs, &mwc, &vwc, cfg, nil
}

// StartGuarded starts a control plane with the chart's webhook
// configurations (rendered with values) pointing at a kestra-guard served in
// this process with the chart's configuration; mod may adjust that
// configuration. stop stops both.
func StartGuarded(values map[string]any, mod func(*config.Config), opts ...func(*envtest.Environment)) (*Guarded, func() error, error) {
	cp, cfg, stopCP, err := StartWithChartWebhooks(values, opts...)
	if err != nil {
		return nil, nil, err
	}
	if mod != nil {
		mod(&cfg)
	}
	g := &Guarded{ControlPlane: cp, Config: cfg, Warnings: &WarningRecorder{}}
	stop := func() error { return errors.Join(g.StopServer(), stopCP()) }
	if err := g.prepare(); err != nil {
		return nil, nil, errors.Join(err, stopCP())
	}
	g.StartServer()
	wcfg := rest.CopyConfig(cp.Config)
	wcfg.WarningHandler = g.Warnings
	if g.WarnClient, err = client.New(wcfg, client.Options{}); err == nil {
		err = g.waitServing()
	}
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return g, stop, nil
}

// StartWithChartWebhooks starts a control plane with the chart's webhook
// configurations (rendered with values) pointing at envtest's local serving
// address, and returns the chart's configuration set to serve there with
// envtest's certificates.
func StartWithChartWebhooks(values map[string]any, opts ...func(*envtest.Environment)) (*ControlPlane, config.Config, func() error, error) {
	_, mwc, vwc, cfg, err := RenderedWebhooks(values)
	if err != nil {
		return nil, cfg, nil, err
	}
	// envtest joins host and path with a "/" of its own.
	for i := range mwc.Webhooks {
		trimPath(&mwc.Webhooks[i].ClientConfig)
	}
	for i := range vwc.Webhooks {
		trimPath(&vwc.Webhooks[i].ClientConfig)
	}
	cp, stop, err := Start(append([]func(*envtest.Environment){WithExceptionCRD, func(env *envtest.Environment) {
		env.WebhookInstallOptions.MutatingWebhooks = []*admissionv1.MutatingWebhookConfiguration{mwc}
		env.WebhookInstallOptions.ValidatingWebhooks = []*admissionv1.ValidatingWebhookConfiguration{vwc}
	}}, opts...)...)
	if err != nil {
		return nil, cfg, nil, err
	}
	wio := cp.Env.WebhookInstallOptions
	cfg.Server.Port, cfg.Server.CertDir, cfg.Server.CertMode = wio.LocalServingPort, wio.LocalServingCertDir, "external"
	cfg.Server.MetricsAddr, cfg.Server.HealthAddr, cfg.Server.LeaderElection = "0", "0", false
	cfg.Server.ShutdownDelay.Duration = 0 // tests that drain set their own
	return cp, cfg, stop, nil
}

// RunGuarded is StartGuarded for one test, stopped with t.Cleanup.
func RunGuarded(t testing.TB, values map[string]any, mod func(*config.Config), opts ...func(*envtest.Environment)) *Guarded {
	t.Helper()
	g, stop, err := StartGuarded(values, mod, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return g
}

func trimPath(cc *admissionv1.WebhookClientConfig) {
	if cc.Service != nil && cc.Service.Path != nil {
		p := strings.TrimPrefix(*cc.Service.Path, "/")
		cc.Service.Path = &p
	}
}

// WithPolicyReportCRD installs the wgpolicyk8s.io PolicyReport CRD.
func WithPolicyReportCRD(env *envtest.Environment) {
	env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join(RepoRoot(), "test", "testdata", "crds"))
	env.ErrorIfCRDPathMissing = true
}

// Kubeconfig writes a kubeconfig for a user in groups and returns its path.
func (cp *ControlPlane) Kubeconfig(t testing.TB, user string, groups ...string) string {
	t.Helper()
	u, err := cp.Env.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// UserClient is a client acting as user in groups.
func (cp *ControlPlane) UserClient(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	u, err := cp.Env.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(u.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLogger is a JSON logger at info level, as in production; it is also
// controller-runtime's global logger (cert-controller logs there).
func TestLogger() logr.Logger {
	zl, _ := zap.NewProduction()
	log := zapr.NewLogger(zl)
	ctrl.SetLogger(log)
	return log
}

// CreateNamespace creates a namespace with labels.
func (cp *ControlPlane) CreateNamespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	if err := cp.EnsureNamespace(name, labels); err != nil {
		t.Fatal(err)
	}
}

// EnsureNamespace creates a namespace with labels unless it exists.
func (cp *ControlPlane) EnsureNamespace(name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := cp.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return cp.EnsureDefaultServiceAccount(name)
}

// EnsureDefaultServiceAccount creates the namespace's "default"
// ServiceAccount, as the controller-manager would: the ServiceAccount
// admission plugin refuses Pods without it.
func (cp *ControlPlane) EnsureDefaultServiceAccount(namespace string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}}
	if err := cp.Client.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default ServiceAccount of %s: %w", namespace, err)
	}
	return nil
}

// WaitServing waits until kestra-guard answers through the API server.
func (g *Guarded) WaitServing() error { return g.waitServing() }

// HTTPClient posts straight to the webhook server, trusting its CA.
func (g *Guarded) HTTPClient() (*http.Client, string) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(g.Env.WebhookInstallOptions.LocalServingCAData)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}
	wio := g.Env.WebhookInstallOptions
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://" + net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
}

// waitServing waits until the webhook answers through the API server.
func (g *Guarded) waitServing() error {
	if err := g.EnsureNamespace(GuardNamespace, nil); err != nil {
		return err
	}
	if err := g.EnsureNamespace("kestra-guard-probe", map[string]string{scope.RunnerLabel: "true"}); err != nil {
		return err
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "kestra-guard-probe"},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := g.Client.Create(context.Background(), probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "kestra-guard denied") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kestra-guard did not start serving within 60s; last answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Eventually retries f until it returns nil, for up to 30 seconds.
func Eventually(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
