// Package server wires `kestra-guard serve`: the controller-runtime manager,
// the two webhooks, certificates, health checks and metrics.
package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/audit"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/gatewatch"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/version"
	kgwebhook "github.com/kestra-guard/kestra-guard/internal/webhook"
)

// Paths the webhooks are served on; the chart's webhook configurations use them.
const (
	MutatePath        = "/mutate-pods"
	ValidatePath      = "/validate-pods"
	NetworkPolicyPath = "/validate-networkpolicies"
)

// LeaderElectionID names the Lease of the background controllers' leader,
// in kestra-guard's namespace; it outlives `helm uninstall` (chart README).
const LeaderElectionID = "kestra-guard"

// Option changes the manager's options; tests that start several servers in
// one process use it (controller names are unique per process unless
// SkipNameValidation).
type Option func(*manager.Options)

// Run serves until ctx is done with cfg, compiled once by the caller
// (config.Compile) and handed down as it is. rc is the cluster to serve; nil
// reads the usual kubeconfig or in-cluster config. It runs the steps below in
// order.
func Run(ctx context.Context, cfg *config.Compiled, rc *rest.Config, log logr.Logger, opts ...Option) error {
	sv := &server{cfg: cfg, log: log, opts: opts}
	for _, step := range []func(*rest.Config) error{sv.manager, sv.certificates, sv.webhooks, sv.controllers, sv.health} {
		if err := step(rc); err != nil {
			return err
		}
	}
	sv.startWebhookServer(ctx)
	s := cfg.Server
	log.Info("starting", "mode", cfg.Mode, "taskRunnerSelector", cfg.TaskRunnerSelector, "port", s.Port, "certMode", s.CertMode)
	return sv.drain(ctx)
}

// server is what the steps of Run build, in order.
type server struct {
	cfg  *config.Compiled
	log  logr.Logger
	opts []Option

	mgr manager.Manager
	// certsReady closes once the serving certificate is on disk; injector
	// is nil unless certMode is self.
	certsReady chan struct{}
	injector   *caInjector
	guard      *kgwebhook.Guard
	ws         webhook.Server
	// draining is set on SIGTERM: not ready, connections closed after each answer.
	draining atomic.Bool
}

// manager builds the controller-runtime manager: scheme, metrics, health
// probes, leader election and the cache.
func (sv *server) manager(rc *rest.Config) error {
	var err error
	if rc == nil {
		if rc, err = ctrl.GetConfig(); err != nil {
			return fmt.Errorf("reading the cluster config: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, s := sv.cfg, sv.cfg.Server
	shutdown := 30 * time.Second
	opts := manager.Options{
		Scheme:                  scheme,
		Logger:                  sv.log,
		Metrics:                 metricsserver.Options{BindAddress: s.MetricsAddr},
		HealthProbeBindAddress:  s.HealthAddr,
		PprofBindAddress:        s.PprofAddr,
		LeaderElection:          s.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: cfg.Namespace,
		GracefulShutdownTimeout: &shutdown,
	}
	if opts.Cache, err = cacheOptions(cfg); err != nil {
		return err
	}
	for _, o := range sv.opts {
		o(&opts)
	}
	sv.mgr, err = ctrl.NewManager(rc, opts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	return nil
}

// cacheOptions says what the manager's cache holds: only the objects
// kestra-guard acts on (its own Secrets; the Pods mutation gave a start
// gate), and of every object only what it reads (cacheTransform).
func cacheOptions(cfg *config.Compiled) (cache.Options, error) {
	opts := cache.Options{
		DefaultTransform: cacheTransform,
		NewInformer:      newInformer,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}},
			// Read on every admission and never modified: no deep copy.
			&corev1.Namespace{}:           {UnsafeDisableDeepCopy: ptr.To(true)},
			&networkingv1.NetworkPolicy{}: {UnsafeDisableDeepCopy: ptr.To(true)},
			// PolicyException is not listed: a ByObject entry needs its REST
			// mapping when the manager is built, and the server must start
			// without the CRD (helm install --skip-crds); exceptions are then
			// read through the cache lazily, and none applies until it exists.
		},
	}
	if cfg.Engine.Options().Gate != nil {
		// The gate watcher reads only the Pods mutation gave a gate.
		gated, err := labels.Parse(policy.GateLabel)
		if err != nil {
			return opts, err
		}
		opts.ByObject[&corev1.Pod{}] = cache.ByObject{Label: gated, UnsafeDisableDeepCopy: ptr.To(true)}
	}
	return opts, nil
}

// cacheTransform drops, before an object enters the cache, what kestra-guard
// never reads: managedFields on every kind (a third to a half of a small
// object), the annotations of Namespaces and NetworkPolicies (kubectl's
// last-applied-configuration is a second copy of the object; only Pods'
// annotations are judged, and the webhook configurations' are read), and
// of NetworkPolicies other than the managed one their labels and their
// ingress rules (kestra-guard judges egress; the policies without egress
// never reach the cache: newInformer).
func cacheTransform(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil // a tombstone: left as it is
	}
	o.SetManagedFields(nil)
	switch t := o.(type) {
	case *corev1.Namespace:
		t.Annotations = nil
	case *networkingv1.NetworkPolicy:
		t.Annotations = nil
		if t.Name != managed.Name {
			// Only egress is judged; the managed policy is kept whole, so
			// that an edit of it is seen and repaired.
			t.Labels, t.Spec.Ingress = nil, nil
		}
	}
	return o, nil
}

// certificates sets up self-managed certificates (rotation, CA injection),
// or trusts the given ones to be on disk.
func (sv *server) certificates(*rest.Config) error {
	sv.certsReady = make(chan struct{})
	if sv.cfg.Server.CertMode != "self" {
		close(sv.certsReady)
		return nil
	}
	var err error
	sv.injector, err = addRotator(sv.mgr, sv.cfg.Config, sv.certsReady, sv.log)
	return err
}

// webhooks builds the Guard and registers the three admission endpoints,
// each behind the body limit and the drain's Connection: close.
func (sv *server) webhooks(*rest.Config) error {
	s, mgr, log := sv.cfg.Server, sv.mgr, sv.log
	tlsOpts := []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		if !s.EnableHTTP2 {
			c.NextProtos = []string{"http/1.1"}
		}
	}}
	metrics := kgwebhook.NewMetrics(ctrlmetrics.Registry)
	kgwebhook.Register(ctrlmetrics.Registry, BuildInfo(version.Get()))
	if err := registerCertExpiry(s.CertDir); err != nil {
		return err
	}
	self, err := whoAmI(mgr.GetConfig())
	if err != nil {
		return err
	}
	log.Info("identified", "user", self)
	guard := kgwebhook.NewGuard(sv.cfg, kgwebhook.Guard{
		Reader: mgr.GetClient(), Live: mgr.GetAPIReader(), Writer: mgr.GetClient(),
		Log: log.WithName("admission"), Metrics: metrics,
		// The cache itself: the manager's client reads unstructured objects
		// from the API server, and exceptions are read unstructured.
		Exceptions: mgr.GetCache(), ExceptionMetrics: exceptionMetrics(), Self: self,
	})
	sv.guard = guard
	ws := webhook.NewServer(webhook.Options{Port: s.Port, CertDir: s.CertDir, TLSOpts: tlsOpts})
	sv.ws = ws
	draining := &sv.draining
	register := func(path string, h http.Handler) {
		wh := limitBody(h, s.MaxBodyBytes)
		ws.Register(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				// Shutting down: answer, and close the connection so that the
				// API server opens its next one to a replica that stays.
				w.Header().Set("Connection", "close")
			}
			wh.ServeHTTP(w, r)
		}))
	}
	// The Pod endpoints decode each review once (kgwebhook.PodHandler).
	register(MutatePath, kgwebhook.PodHandler(kgwebhook.Mutator{Guard: guard}))
	register(ValidatePath, kgwebhook.PodHandler(kgwebhook.Validator{Guard: guard}))
	register(NetworkPolicyPath, &admission.Webhook{Handler: kgwebhook.NetworkPolicyValidator{Guard: guard}})
	return nil
}

// controllers adds the managed-policy controller, the start gate's watcher
// and the background audit.
func (sv *server) controllers(*rest.Config) error {
	cfg, mgr, log := sv.cfg, sv.mgr, sv.log
	if cfg.ManagedNetworkPolicy.Enabled {
		r := &managed.Reconciler{Client: mgr.GetClient(), Log: log.WithName("managed-networkpolicy"), SpecFor: sv.guard.NamespaceSpec,
			Writes: kgwebhook.Register(ctrlmetrics.Registry, managed.NewWrites())}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the managed NetworkPolicy controller: %w", err)
		}
	}
	if cfg.Engine.Options().Gate != nil {
		r := &gatewatch.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("kestra-guard"),
			Failures: kgwebhook.Register(ctrlmetrics.Registry, gatewatch.NewFailures())}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the start gate watcher: %w", err)
		}
	}
	if !cfg.Audit.Enabled {
		return nil
	}
	gauge := kgwebhook.Register(ctrlmetrics.Registry, audit.NewViolationsGauge())
	inUse, expired := exceptionGauges()
	return mgr.Add(&audit.Background{
		// Pods from the API server, by page; namespaces, NetworkPolicies and
		// exceptions from the cache, which holds them for admission anyway.
		Auditor: &audit.Auditor{Reader: mgr.GetAPIReader(), Cache: mgr.GetCache(), Config: cfg,
			PageSize: cfg.Audit.PageSize, Pace: pace(cfg.Audit.ListsPerSecond)},
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("kestra-guard"), Log: log.WithName("audit"),
		Interval: cfg.Audit.Interval.Duration, PolicyReports: cfg.Audit.PolicyReports, Events: cfg.Audit.Events, Violations: gauge,
		ExceptionsInUse: inUse, ExceptionsExpired: expired,
	})
}

// health adds /healthz and /readyz: ready once certificates exist, the CA
// is published and the webhook server started, and not while draining.
func (sv *server) health(*rest.Config) error {
	if err := sv.mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	started := sv.ws.StartedChecker()
	return sv.mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
		if sv.draining.Load() {
			return fmt.Errorf("shutting down")
		}
		select {
		case <-sv.certsReady:
		default:
			return fmt.Errorf("certificates are not ready")
		}
		if sv.injector != nil && !sv.injector.injected.Load() {
			return fmt.Errorf("the CA bundle is not in the webhook configurations yet")
		}
		return started(req)
	})
}

// startWebhookServer adds the webhook server once certificates exist: it
// reads its certificate files as it starts, so with self-managed
// certificates it starts once cert-controller has them on disk.
func (sv *server) startWebhookServer(ctx context.Context) {
	go func() {
		select {
		case <-sv.certsReady:
			if err := sv.mgr.Add(sv.ws); err != nil {
				sv.log.Error(err, "starting the webhook server")
			}
		case <-ctx.Done():
		}
	}()
}

// drain runs the manager until ctx is done, then drains first: report not
// ready, keep serving with connections closed after each answer for
// shutdownDelay, then stop (finishing requests in flight). Closing pooled
// connections at once would fail the requests the API server is sending on
// them.
func (sv *server) drain(ctx context.Context) error {
	delay := sv.cfg.Server.ShutdownDelay.Duration
	mgrCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-ctx.Done()
		sv.draining.Store(true)
		sv.log.Info("draining before shutdown", "delay", delay)
		time.Sleep(delay)
		stop()
	}()
	return sv.mgr.Start(mgrCtx)
}

// limitBody answers HTTP 413 to a request whose body is longer than limit
// bytes (controller-runtime's own limit is 7 MiB, and answers HTTP 200).
// The API server sends a Content-Length, so the usual request costs one
// comparison; a body of unknown length is read here, up to the limit.
func limitBody(next http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func() {
			http.Error(w, fmt.Sprintf("kestra-guard: the request body is larger than %d bytes (server.maxBodyBytes)", limit), http.StatusRequestEntityTooLarge)
		}
		switch {
		case r.ContentLength > limit:
			tooLarge()
			return
		case r.ContentLength < 0 && r.Body != nil:
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				tooLarge()
				return
			}
			if err != nil {
				http.Error(w, "kestra-guard: reading the request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		next.ServeHTTP(w, r)
	})
}

// addRotator makes cert-controller keep a CA and serving certificate in a
// Secret, and a caInjector publish the CA (with the one it replaced, for a
// while) in both webhook configurations.
func addRotator(mgr manager.Manager, cfg config.Config, ready chan struct{}, log logr.Logger) (*caInjector, error) {
	s := cfg.Server
	svc := s.ServiceName + "." + cfg.Namespace + ".svc"
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: cfg.Namespace, Name: s.CertSecret},
		CertDir:        s.CertDir,
		CAName:         "kestra-guard-ca",
		CAOrganization: "kestra-guard",
		DNSName:        svc,
		ExtraDNSNames:  append([]string{s.ServiceName, s.ServiceName + "." + cfg.Namespace, svc + ".cluster.local"}, s.ExtraDNSNames...),
		IsReady:        ready,
		// No Webhooks: the caInjector publishes the bundle, keeping the old CA.
		FieldOwner:            "kestra-guard",
		RequireLeaderElection: false,
	}); err != nil {
		return nil, fmt.Errorf("setting up certificate rotation: %w", err)
	}
	key := types.NamespacedName{Namespace: cfg.Namespace, Name: s.CertSecret}
	injector := &caInjector{client: mgr.GetClient(), secret: key, mutating: s.MutatingName, validating: s.ValidatingName, overlap: s.CAOverlap.Duration, log: log.WithName("ca-bundle"), informers: mgr.GetCache()}
	if err := mgr.Add(injector); err != nil {
		return nil, err
	}
	return injector, nil
}

// whoAmI asks the API server which user kestra-guard is (a SelfSubjectReview,
// GA since 1.28): the NetworkPolicy webhook admits that user's writes of the
// managed policy and refuses everyone else's in runner namespaces. It tries
// for up to 30 s, as the API server may still be starting.
func whoAmI(rc *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", fmt.Errorf("identifying kestra-guard's user: %w", err)
	}
	var user string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return false, nil
		}
		user = r.Status.UserInfo.Username
		return user != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("identifying kestra-guard's user with a SelfSubjectReview (authentication.k8s.io/v1): no answer in 30s: %w", err)
	}
	return user, nil
}

// pace is the audit's list pacing: perSecond list calls a second, one at a
// time; nil (not paced) for 0.
func pace(perSecond int) *rate.Limiter {
	if perSecond == 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}
