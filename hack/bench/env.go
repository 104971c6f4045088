package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func numCPU() int { return runtime.NumCPU() }

// Namespaces of the end-to-end benchmark, one per configuration.
const (
	nsNone  = "bench-none"
	nsGuard = "bench-guard"
	nsAllow = "bench-allow"
	nsVAP   = "bench-vap"
	// nsHome gets HOME from a MutatingAdmissionPolicy that does nothing
	// else: the least any in-tree mutation of the passing task runner costs.
	nsHome = "bench-map-home"
	// nsInTree is judged by kestra-guard's in-tree policies alone, nsBoth
	// by its webhooks and the in-tree policies (admission.mode both).
	nsInTree = "bench-intree"
	nsBoth   = "bench-both"
	// inTreeLabel marks the task runners the webhooks leave to the in-tree policies.
	inTreeLabel = "bench.kestra-guard.io/in-tree"
)

// inTreePod is the passing task runner, labelled for the in-tree policies only.
func inTreePod(ns, name string) *corev1.Pod {
	p := framework.PassingTaskRunner(ns, name)
	p.Labels[inTreeLabel] = "true"
	return p
}

type proc struct {
	cmd *exec.Cmd
}

func (p *proc) rss() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(35 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

type env struct {
	cp       *framework.ControlPlane
	stopCP   func() error
	guard    *proc
	allow    *proc
	guardURL string
	allowURL string
	// guardMetrics and allowMetrics are the servers' Prometheus endpoints.
	guardMetrics, allowMetrics string
	httpClient                 *http.Client
	versions                   string
	pprof                      string
}

// apiserverProfile writes a 20 s CPU profile of kube-apiserver (its
// /debug/pprof) while section 3's clients create the task runners of
// configuration c, and says how many it admitted meanwhile.
func (e *env) apiserverProfile(ctx context.Context, c e2eConfig, path string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan sample, 1)
	go func() {
		done <- createPods(ctx, e.cp.Client, "profile", math.MaxInt32, e2eConc, func(name string) *corev1.Pod { return c.pod(c.ns, name) })
	}()
	b, err := e.cp.Clientset.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "20").DoRaw(ctx)
	cancel()
	s := <-done
	if err != nil {
		return fmt.Errorf("profiling kube-apiserver: %w", err)
	}
	step("%s: %d Pod creations (%d failed, the last ones by the end of the load) at %.0f/s while profiling", c.name, s.n, s.errors, s.rate())
	return os.WriteFile(path, b, 0o644)
}

// profile writes a 10 s CPU profile of kestra-guard serving validate and
// mutate reviews at saturation.
func (e *env) profile(ctx context.Context, path string) error {
	validate, mutate, err := capturedBodies()
	if err != nil {
		return err
	}
	bodies := [][]byte{validate, mutate}
	urls := []string{e.guardURL + "/validate-pods", e.guardURL + "/mutate-pods"}
	done := make(chan struct{})
	go func() {
		var next atomic.Int64
		saturate(ctx, httpConc, 11*time.Second, func() error {
			i := next.Add(1)
			_, err := postReview(e.httpClient, urls[i%2], bodies[i%2])
			return err
		})
		close(done)
	}()
	resp, err := http.Get(e.pprof + "/debug/pprof/profile?seconds=10")
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	<-done
	return f.Close()
}

func (e *env) stop() {
	e.guard.stop()
	e.allow.stop()
	_ = e.stopCP()
}

func startEnv(ctx context.Context, bin string) (*env, error) {
	// The start gate is off: its cost is at run time (the e2e measures the
	// time to a task's first line); with it on, the passing Pods below would
	// need it and the patched one would carry one more init container.
	// The webhooks leave Pods labelled inTreeLabel to the in-tree policies
	// (bench-intree): the chart's object selector with that exclusion.
	cp, cfg, stopCP, err := framework.StartWithChartWebhooks(map[string]any{"audit": map[string]any{"enabled": false}, "startGate": map[string]any{"enabled": false},
		"webhook": map[string]any{"objectSelector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "kestra.io/taskrun-id", "operator": "Exists"}, map[string]any{"key": inTreeLabel, "operator": "DoesNotExist"}}}}})
	if err != nil {
		return nil, err
	}
	e := &env{cp: cp, stopCP: stopCP}
	fail := func(err error) (*env, error) { _ = stopCP(); return nil, err }
	wio := cp.Env.WebhookInstallOptions
	for _, ns := range []string{framework.GuardNamespace, nsNone, nsAllow, nsVAP, nsHome} {
		if err := cp.EnsureNamespace(ns, nil); err != nil {
			return fail(err)
		}
	}
	for _, ns := range []string{nsGuard, nsBoth} {
		if err := cp.EnsureNamespace(ns, map[string]string{scope.RunnerLabel: "true"}); err != nil {
			return fail(err)
		}
	}
	if err := cp.EnsureNamespace(nsInTree, nil); err != nil {
		return fail(err)
	}

	dir, err := os.MkdirTemp("", "kestra-guard-bench")
	if err != nil {
		return fail(err)
	}
	user, err := cp.Env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kc, _ := user.KubeConfig()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfgFile := filepath.Join(dir, "config.yaml")
	guardMetricsPort, err := framework.FreePort()
	if err != nil {
		return fail(err)
	}
	cfg.Server.MetricsAddr = "127.0.0.1:" + strconv.Itoa(guardMetricsPort)
	e.guardMetrics = "http://" + cfg.Server.MetricsAddr + "/metrics"
	cfgYAML, _ := yaml.Marshal(cfg)
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(cfgFile, cfgYAML, 0o600); err != nil {
		return fail(err)
	}

	allowPort, err := framework.FreePort()
	if err != nil {
		return fail(err)
	}
	self, _ := os.Executable()
	allowMetricsPort, err := framework.FreePort()
	if err != nil {
		return fail(err)
	}
	e.allowMetrics = "http://127.0.0.1:" + strconv.Itoa(allowMetricsPort) + "/metrics"
	e.allow = &proc{cmd: exec.CommandContext(ctx, self, "allow-server", "-port", strconv.Itoa(allowPort), "-cert-dir", wio.LocalServingCertDir,
		"-metrics-port", strconv.Itoa(allowMetricsPort))}
	pprofPort, err := framework.FreePort()
	if err != nil {
		return fail(err)
	}
	e.pprof = "http://127.0.0.1:" + strconv.Itoa(pprofPort)
	e.guard = &proc{cmd: exec.CommandContext(ctx, bin, "serve", "--config", cfgFile, "--pprof-bind-address", "127.0.0.1:"+strconv.Itoa(pprofPort))}
	e.guard.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logFile, _ := os.Create(filepath.Join(dir, "kestra-guard.log"))
	e.guard.cmd.Stdout, e.guard.cmd.Stderr = logFile, logFile
	e.allow.cmd.Stderr = logFile
	for _, p := range []*proc{e.guard, e.allow} {
		if err := p.cmd.Start(); err != nil {
			return fail(err)
		}
	}
	e.guardURL = "https://" + net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	e.allowURL = "https://" + net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(allowPort))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(wio.LocalServingCAData)
	e.httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	if err := installPeers(ctx, cp.Client, e.allowURL, wio.LocalServingCAData); err != nil {
		return fail(err)
	}
	if err := installInTree(ctx, cp); err != nil {
		return fail(err)
	}
	if err := e.waitReady(ctx); err != nil {
		return fail(fmt.Errorf("%w (logs in %s)", err, logFile.Name()))
	}
	v, err := cp.Clientset.Discovery().ServerVersion()
	if err != nil {
		return fail(err)
	}
	e.versions = fmt.Sprintf("kube-apiserver %s (built from source), etcd v3.6.16, %s", v.GitVersion, runtime.Version())
	return e, nil
}

// decodeV2Allow decodes the review and its Pod in one json/v2 pass, as
// kestra-guard's PodHandler does, and admits: the floor for a webhook on
// kestra-guard's request path.
func decodeV2Allow(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Request    *struct {
			UID    types.UID   `json:"uid"`
			Object *corev1.Pod `json:"object"`
		} `json:"request"`
	}
	resp := admission.Allowed("")
	if err := jsonv2.Unmarshal(body, &review); err != nil || review.Request == nil {
		resp = admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the review: %v", err))
	} else {
		resp.UID = review.Request.UID
	}
	ar := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: review.APIVersion, Kind: review.Kind}, Response: &resp.AdmissionResponse}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ar)
}

// waitReady waits until both webhooks answer and the API server calls them.
func (e *env) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		errs := []error{}
		for _, url := range []string{e.guardURL + "/validate-pods", e.allowURL + "/validate"} {
			if _, err := postReview(e.httpClient, url, reviewBody(framework.PassingTaskRunner(nsGuard, "probe"))); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			if err := e.cp.Client.Create(ctx, framework.PassingTaskRunner(nsGuard, "probe"), client.DryRunAll); err == nil {
				return nil
			} else {
				errs = append(errs, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhooks not ready: %v", errs)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// installPeers installs the reference configurations: always-allow webhooks
// shaped like kestra-guard's (one mutating, one validating) bound to
// bench-allow, a ValidatingAdmissionPolicy in CEL bound to bench-vap, and
// bound to bench-map-home a MutatingAdmissionPolicy that adds HOME to each
// container that has none (what kestra-guard's mutation changes in the
// passing task runner, and nothing else). It returns once that policy adds
// HOME.
func installPeers(ctx context.Context, c client.Client, allowURL string, ca []byte) error {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nsAllow}}
	rules := []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
		Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregv1.NamespacedScope)}}}
	none, noneOnDryRun := admissionregv1.SideEffectClassNone, admissionregv1.SideEffectClassNoneOnDryRun
	fail := admissionregv1.Fail
	hook := func(path string) admissionregv1.WebhookClientConfig {
		return admissionregv1.WebhookClientConfig{URL: ptr.To(allowURL + path), CABundle: ca}
	}
	objs := []client.Object{
		&admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "bench-allow"},
			Webhooks: []admissionregv1.MutatingWebhook{{Name: "mutate.allow.bench", ClientConfig: hook("/mutate"), Rules: rules, NamespaceSelector: sel,
				SideEffects: &noneOnDryRun, FailurePolicy: &fail, TimeoutSeconds: ptr.To[int32](5), AdmissionReviewVersions: []string{"v1"},
				ReinvocationPolicy: ptr.To(admissionregv1.IfNeededReinvocationPolicy)}}},
		&admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "bench-allow"},
			Webhooks: []admissionregv1.ValidatingWebhook{{Name: "validate.allow.bench", ClientConfig: hook("/validate"), Rules: rules, NamespaceSelector: sel,
				SideEffects: &none, FailurePolicy: &fail, TimeoutSeconds: ptr.To[int32](5), AdmissionReviewVersions: []string{"v1"}}}},
		&admissionregv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench-cel"},
			Spec: admissionregv1.ValidatingAdmissionPolicySpec{
				FailurePolicy:    &fail,
				MatchConstraints: &admissionregv1.MatchResources{ResourceRules: []admissionregv1.NamedRuleWithOperations{{RuleWithOperations: rules[0]}}},
				Validations: []admissionregv1.Validation{
					{Expression: "!has(object.spec.hostNetwork) || !object.spec.hostNetwork", Message: "host network"},
					{Expression: "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))", Message: "hostPath"},
					{Expression: "object.spec.containers.all(c, has(c.securityContext) && has(c.securityContext.readOnlyRootFilesystem) && c.securityContext.readOnlyRootFilesystem) && (!has(object.spec.initContainers) || object.spec.initContainers.all(c, has(c.securityContext) && has(c.securityContext.readOnlyRootFilesystem) && c.securityContext.readOnlyRootFilesystem))", Message: "read-only root filesystem"},
					{Expression: "(has(object.spec.securityContext) && has(object.spec.securityContext.runAsNonRoot) && object.spec.securityContext.runAsNonRoot) || object.spec.containers.all(c, has(c.securityContext) && has(c.securityContext.runAsNonRoot) && c.securityContext.runAsNonRoot)", Message: "non-root"},
				},
			}},
		&admissionregv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-cel"},
			Spec: admissionregv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "bench-cel", ValidationActions: []admissionregv1.ValidationAction{admissionregv1.Deny},
				MatchResources: &admissionregv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nsVAP}}}}},
		&admissionregv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench-home"},
			Spec: admissionregv1.MutatingAdmissionPolicySpec{
				FailurePolicy:      &fail,
				ReinvocationPolicy: admissionregv1.NeverReinvocationPolicy,
				MatchConstraints: &admissionregv1.MatchResources{ResourceRules: []admissionregv1.NamedRuleWithOperations{{RuleWithOperations: admissionregv1.RuleWithOperations{
					Operations: []admissionregv1.OperationType{admissionregv1.Create}, Rule: rules[0].Rule}}}},
				Mutations: []admissionregv1.Mutation{{PatchType: admissionregv1.PatchTypeJSONPatch, JSONPatch: &admissionregv1.JSONPatch{Expression: homePatch("initContainers") + " + " + homePatch("containers")}}},
			}},
		&admissionregv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "bench-home"},
			Spec: admissionregv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "bench-home",
				MatchResources: &admissionregv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nsHome}}}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("installing %T %s: %w", o, o.GetName(), err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := plainPod(nsHome, "probe")
		err := c.Create(ctx, p, client.DryRunAll)
		if err == nil && hasHome(p) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the MutatingAdmissionPolicy bench-home gives no HOME in %s (error: %v)", nsHome, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// homePatch is the JSON patch adding HOME=/tmp to each container of list
// that has no HOME.
func homePatch(list string) string {
	item := `Object.spec.` + list + `.env{name: 'HOME', value: '/tmp'}`
	return `lists.range(object.spec.?` + list + `.orValue([]).size()).filter(i, !object.spec.` + list + `[i].?env.orValue([]).exists(e, e.name == 'HOME'))
		.map(i, has(object.spec.` + list + `[i].env) ?
			JSONPatch{op: 'add', path: '/spec/` + list + `/' + string(i) + '/env/-', value: ` + item + `} :
			JSONPatch{op: 'add', path: '/spec/` + list + `/' + string(i) + '/env', value: [` + item + `]})`
}

// hasHome reports whether every container of p has HOME.
func hasHome(p *corev1.Pod) bool {
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HOME" }) {
			return false
		}
	}
	return true
}

// installInTree installs kestra-guard's in-tree policies as the chart
// renders them (admission.mode both, the start gate off as for
// kestra-guard here) with the bindings of runner namespaces in enforce
// mode, bound by name to nsInTree and nsBoth, and gives nsInTree the
// managed NetworkPolicy the controller gives runner namespaces (nsBoth is
// one). It returns once the policies refuse a host-network Pod and admit
// the passing one with HOME.
func installInTree(ctx context.Context, cp *framework.ControlPlane) error {
	objs, err := framework.InTreeObjects(map[string]any{"admission": map[string]any{"mode": "both"},
		"audit": map[string]any{"enabled": false}, "startGate": map[string]any{"enabled": false}})
	if err != nil {
		return err
	}
	byName := map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
		map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{nsInTree, nsBoth}}}}}
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicyBinding":
			if !strings.HasSuffix(o.GetName(), ".runner-namespaces.enforce") && !strings.HasSuffix(o.GetName(), "-mutate.runner-namespaces") {
				continue
			}
			if err := unstructured.SetNestedField(o.Object, byName, "spec", "matchResources"); err != nil {
				return err
			}
		}
		if err := framework.Apply(ctx, cp.Client, o); err != nil {
			return fmt.Errorf("installing %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var pol networkingv1.NetworkPolicy
	for {
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: nsGuard, Name: managed.Name}, &pol)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no managed NetworkPolicy in %s to copy into %s: %w", nsGuard, nsInTree, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// What the mutating webhook would apply at the namespace's first task
	// runner (kestra-guard's controller keeps it from then on).
	copied := managed.Build(nsInTree, managed.Spec{})
	copied.Spec, copied.Labels = pol.Spec, pol.Labels
	if err := cp.Client.Create(ctx, copied); err != nil {
		return fmt.Errorf("copying the managed NetworkPolicy into %s: %w", nsInTree, err)
	}
	for {
		// Bound and in force: a host-network Pod is refused, the passing one
		// admitted with HOME (the mutation's binding).
		p := inTreePod(nsInTree, "probe")
		p.Spec.HostNetwork = true
		err := cp.Client.Create(ctx, p, client.DryRunAll)
		ok := inTreePod(nsInTree, "probe")
		errOK := cp.Client.Create(ctx, ok, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") && errOK == nil && len(ok.Spec.Containers[0].Env) > 0 {
			return nil
		}
		if errOK != nil {
			err = errOK
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the in-tree policies do not refuse a host-network Pod and admit the passing one, mutated, in %s: %v", nsInTree, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// allowServer serves /mutate and /validate, admitting everything, behind
// controller-runtime's webhook server with kestra-guard's TLS settings.
func allowServer(args []string) error {
	fs := flag.NewFlagSet("allow-server", flag.ContinueOnError)
	port := fs.Int("port", 0, "port")
	certDir := fs.String("cert-dir", "", "folder holding tls.crt and tls.key")
	metricsPort := fs.Int("metrics-port", 0, "port of controller-runtime's metrics on 127.0.0.1 (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *metricsPort != 0 {
		ms := &http.Server{Addr: "127.0.0.1:" + strconv.Itoa(*metricsPort), Handler: promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ms.ListenAndServe() }()
	}
	ws := webhook.NewServer(webhook.Options{Port: *port, CertDir: *certDir, TLSOpts: []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion, c.NextProtos = tls.VersionTLS12, []string{"http/1.1"}
	}}})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
	// decodeAllow reads the Pod, as any webhook that looks at it must, and
	// admits: the floor for a webhook that decides on the Pod's content.
	decodeAllow := admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		var pod corev1.Pod
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Object.Raw, &pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		return admission.Allowed("")
	})
	ws.Register("/mutate", &admission.Webhook{Handler: allow})
	ws.Register("/validate", &admission.Webhook{Handler: allow})
	ws.Register("/decode", &admission.Webhook{Handler: decodeAllow})
	ws.Register("/decode-v2", http.HandlerFunc(decodeV2Allow))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return ws.Start(ctx)
}

// pin sets the CPU affinity of every thread of process pid (0: this process)
// to cpus; threads created later inherit it from the thread that creates
// them. The Go runtime lowers GOMAXPROCS to the CPUs left, and does not
// raise it again when the pin is lifted (run orders the sections for it).
func pin(pid int, cpus ...int) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pinning thread %d of process %d: %w", tid, pid, err)
		}
	}
	return nil
}

// pinServers pins both webhook servers to CPU 1 and the bench's clients to
// CPU 0, so that the clients do not take CPU from the server under test;
// unpin gives every CPU back. On a machine with one CPU it does nothing.
func (e *env) pinServers() (unpin func(), pinned bool, err error) {
	if numCPU() < 2 {
		return func() {}, false, nil
	}
	all := make([]int, numCPU())
	for i := range all {
		all[i] = i
	}
	unpin = func() {
		for _, pid := range []int{0, e.guard.cmd.Process.Pid, e.allow.cmd.Process.Pid} {
			_ = pin(pid, all...)
		}
	}
	for _, p := range []struct{ pid, cpu int }{{e.guard.cmd.Process.Pid, 1}, {e.allow.cmd.Process.Pid, 1}, {0, 0}} {
		if err := pin(p.pid, p.cpu); err != nil {
			unpin()
			return nil, false, err
		}
	}
	return unpin, true, nil
}
