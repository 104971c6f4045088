//go:build e2e

// Package e2e runs kestra-guard on a real node: hack/e2e/run.sh (make e2e)
// starts the API server, controller-manager, scheduler, containerd, the
// kubelet, a CNI bridge and kube-router's NetworkPolicy firewall, then runs
// these tests with the node's settings in E2E_* variables. TestMain installs
// kestra-guard with its Helm chart and image, as users do. Every case
// asserts on what happened inside containers (exit codes, termination
// messages, files read back over exec), not on Pod objects alone.
//
// The files carry the e2e build tag: `go test ./...` (make test) does not
// build them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// Namespaces the suite creates.
const (
	guardNS  = "kestra-guard"
	runnerNS = "kg-e2e-runners" // kestra-guard.io/runner=true, enforce
	auditNS  = "kg-e2e-audit"   // kestra-guard.io/runner=true, audit
	plainNS  = "kg-e2e-plain"   // kestra-guard.io/mode=off, not guarded: the control case
)

// env is the node's settings, from hack/e2e/run.sh.
var env struct {
	apiHost, metaIP, peerIP, gatewayIP, busybox, guardImage, guardBin, kubeconfig string
	// dnsIP is the stand-in node-local DNS address, in the gateway's
	// network namespace gwNS; state is run.sh's state folder.
	dnsIP, gwNS, state string
}

// gateTimeout is the start gate's bound in this suite: long enough for a
// burst of Pods on two cores, short enough for the enforcer-off case.
const gateTimeout = 60 * time.Second

var (
	cs       *kubernetes.Clientset
	cl       client.Client
	restCfg  *rest.Config
	warnings = &warningRecorder{}
	warnCS   *kubernetes.Clientset
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(dnsServeEnv); addr != "" {
		os.Exit(serveDNS(addr, os.Getenv(dnsAnswerEnv))) // re-executed in the gateway's namespace (dns_test.go)
	}
	for name, dst := range map[string]*string{
		"E2E_API_HOST": &env.apiHost, "E2E_META_IP": &env.metaIP, "E2E_PEER_IP": &env.peerIP,
		"E2E_GATEWAY_IP": &env.gatewayIP, "E2E_BUSYBOX_IMAGE": &env.busybox, "E2E_GUARD_IMAGE": &env.guardImage,
		"E2E_GUARD_BIN": &env.guardBin, "KUBECONFIG": &env.kubeconfig,
		"E2E_DNS_IP": &env.dnsIP, "E2E_GW_NS": &env.gwNS, "E2E_STATE": &env.state,
	} {
		*dst = os.Getenv(name)
		if *dst == "" {
			fmt.Fprintf(os.Stderr, "e2e: %s is not set: run the suite with make e2e (hack/e2e/run.sh)\n", name)
			os.Exit(2)
		}
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup:", err)
		dumpGuard()
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		dumpGuard()
	}
	os.Exit(code)
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var err error
	restCfg, err = clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.Timeout = 30 * time.Second
	if cs, err = kubernetes.NewForConfig(restCfg); err != nil {
		return err
	}
	wcfg := rest.CopyConfig(restCfg)
	wcfg.WarningHandler = warnings
	if warnCS, err = kubernetes.NewForConfig(wcfg); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	if cl, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}

	logf("waiting for the node to be Ready")
	if err := poll(ctx, 3*time.Minute, func() (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 1 {
			return false, nil
		}
		for _, c := range nodes.Items[0].Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("node not Ready: %w", err)
	}

	logf("installing kestra-guard with its Helm chart (image %s, 2 replicas, certificates.mode self)", env.guardImage)
	if err := ensureNamespace(ctx, guardNS, nil); err != nil {
		return err
	}
	values := chartValues()
	// helm install applies the chart's crds/ first, then the templates.
	crds, err := chart.CRDs()
	if err != nil {
		return err
	}
	objs, err := chart.Render("kestra-guard", guardNS, values)
	if err != nil {
		return err
	}
	objs = append(crds, objs...)
	for _, o := range objs {
		if err := framework.Apply(ctx, cl, o); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}

	for name, labels := range map[string]map[string]string{
		runnerNS: {scope.RunnerLabel: "true", scope.ModeLabel: "enforce"},
		auditNS:  {scope.RunnerLabel: "true", scope.ModeLabel: "audit"},
		// The probes carry Kestra's labels: without mode off, kestra-guard
		// would guard them here too (by label), gate included.
		plainNS: {scope.ModeLabel: "off"},
	} {
		if err := ensureNamespace(ctx, name, labels); err != nil {
			return err
		}
		if err := createProbeScripts(ctx, name); err != nil {
			return err
		}
	}

	logf("waiting for 2 ready kestra-guard replicas and for admission through the Service")
	if err := poll(ctx, 4*time.Minute, func() (bool, error) {
		var d appsv1.Deployment
		if err := cl.Get(ctx, client.ObjectKey{Namespace: guardNS, Name: "kestra-guard"}, &d); err != nil {
			return false, nil
		}
		if d.Status.ReadyReplicas < 2 {
			return false, nil
		}
		p := taskPod("admission-check", []string{"true"})
		got, err := cs.CoreV1().Pods(runnerNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, nil
		}
		return mutated(got), nil
	}); err != nil {
		return fmt.Errorf("kestra-guard did not start admitting task runners: %w", err)
	}
	logf("waiting for the managed NetworkPolicy in %s", runnerNS)
	return poll(ctx, time.Minute, func() (bool, error) {
		_, err := cs.NetworkingV1().NetworkPolicies(runnerNS).Get(ctx, managed.Name, metav1.GetOptions{})
		return err == nil, nil
	})
}

// chartValues are the chart values the suite installs kestra-guard with.
func chartValues() map[string]any {
	i := strings.LastIndex(env.guardImage, ":")
	return map[string]any{
		"replicaCount": 2,
		"certificates": map[string]any{"mode": "self"},
		"image":        map[string]any{"repository": env.guardImage[:i], "tag": env.guardImage[i+1:]},
		// The gate tries the fake metadata server only: no test sends a
		// packet to a real metadata address.
		// The peer must answer in the same round (the canary): the gate then
		// knows the Pod's network carries packets.
		"startGate": map[string]any{"endpoints": []any{env.metaIP + ":80"}, "timeout": fmt.Sprintf("%ds", int(gateTimeout.Seconds())), "canary": env.peerIP + ":8080"},
		// The stand-in node-local DNS, inside the blocked 169.254.0.0/16.
		"policy": map[string]any{"nodeLocalDNS": []any{env.dnsIP}},
		// No kube-proxy on this node: the kubernetes Service's ClusterIP
		// leads nowhere, so the Pods reach the API server on the node's
		// address on the Pod bridge.
		"extraEnv": []any{
			map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": env.apiHost},
			map[string]any{"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
		},
	}
}

// ensureNamespace creates a namespace and waits for what the
// controller-manager adds to it: the default ServiceAccount (the
// ServiceAccount admission plugin refuses Pods without it) and the
// kube-root-ca.crt ConfigMap (projected into every Pod's token volume).
func ensureNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return poll(ctx, time.Minute, func() (bool, error) {
		if _, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		_, err := cs.CoreV1().ConfigMaps(name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, nil
	})
}

// dumpGuard prints kestra-guard's Pods' state to help read a failure.
func dumpGuard() {
	if cs == nil {
		return
	}
	pods, err := cs.CoreV1().Pods(guardNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(os.Stderr, "e2e: %s/%s phase=%s\n", p.Namespace, p.Name, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(os.Stderr, "e2e:   %s ready=%v restarts=%d state=%+v last=%+v\n", c.Name, c.Ready, c.RestartCount, c.State, c.LastTerminationState)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: %s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// poll calls f every half second until it returns true, an error, or
// timeout passes.
func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s", timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// warningRecorder keeps the admission warnings warnCS receives.
type warningRecorder struct {
	mu   sync.Mutex
	list []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}
