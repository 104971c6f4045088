// Package webhook adapts admission requests to the policy engine: it decodes
// the Pod, decides whether it is a task runner and in which mode, calls the
// engine and maps the result to an admission response.
package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// Guard holds what both webhooks share.
type Guard struct {
	// Engine and Config are the compiled configuration's (NewGuard).
	Engine *policy.Engine
	Config config.Config
	// Reader reads from the informer cache; Live reads from the API server
	// and is used where the cache may lag behind (a new namespace, a managed
	// policy applied a moment ago).
	Reader, Live client.Reader
	// Writer applies the managed NetworkPolicy.
	Writer  client.Client
	Log     logr.Logger
	Metrics *Metrics
	// Exceptions lists PolicyExceptions (the informer cache); nil: none apply.
	Exceptions       client.Reader
	ExceptionMetrics *exception.Metrics
	// Self is kestra-guard's own user name (its ServiceAccount's), as the
	// API server authenticates it: the one identity that may change the
	// managed policy in a runner namespace.
	Self string

	scope *scope.Scope
	// managed are the managed policy's specs, per kind of guarded namespace.
	managed config.ManagedSpecs
	// policySpecs are the NetworkPolicy specs built from managed.
	policySpecs struct {
		labelSelected, runnerNamespace networkingv1.NetworkPolicySpec
	}
	// checked remembers, by namespace, the resourceVersion of a managed
	// policy found as it should be, so that it is compared once per change.
	checked *versions
}

type versions struct {
	mu sync.Mutex
	m  map[string]string
}

// verified reports whether the managed policy of ns at resourceVersion rv is
// as it should be, calling ok only for a version not seen before.
func (g *Guard) verified(ns, rv string, ok func() bool) bool {
	c := g.checked
	c.mu.Lock()
	seen := c.m[ns] == rv
	c.mu.Unlock()
	if seen {
		return true
	}
	if !ok() {
		return false
	}
	c.mu.Lock()
	c.m[ns] = rv
	c.mu.Unlock()
	return true
}

// NewGuard is g with the configuration c, compiled once by the caller
// (config.Compile): its Config, Engine, scope and managed policy's specs are
// c's, never compiled again here.
func NewGuard(c *config.Compiled, g Guard) *Guard {
	g.Config, g.Engine = c.Config, c.Engine
	g.scope, g.managed, g.checked = c.Scope, c.Managed, &versions{m: map[string]string{}}
	g.policySpecs.labelSelected = managed.Build("", g.managed.LabelSelected).Spec
	g.policySpecs.runnerNamespace = managed.Build("", g.managed.RunnerNamespace).Spec
	if g.Metrics == nil {
		g.Metrics = NewMetrics(nil)
	}
	return &g
}

// target is a Pod under review with what decides its fate.
type target struct {
	pod       *corev1.Pod
	namespace *corev1.Namespace
	mode      scope.Mode
	// runnerNamespace is true when every Pod of the namespace is a task runner.
	runnerNamespace bool
	warnings        []string
	// engine judges the Pod: the rule set the namespace is pinned to
	// (scope.Engine); latestWouldDeny are the denials latest adds to it.
	engine          *policy.Engine
	latestWouldDeny []policy.Violation
}

// podSource is the Pod (or old Pod) of a request: present says whether the
// request carries one, decode returns it, decoding it if it was not yet.
type podSource struct {
	present bool
	decode  func() (*corev1.Pod, error)
}

// resolve takes the Pod (object, and oldObject on UPDATE, each decoded only
// when needed) and decides whether and how it is guarded. A nil target with a
// nil error means the Pod is not guarded, and skipped says why.
func (g *Guard) resolve(ctx context.Context, req *admissionv1.AdmissionRequest, object, oldObject podSource) (t *target, skipped string, err error) {
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" {
		return nil, "", badRequest(fmt.Errorf("expected a v1 Pod, got %s", req.Kind.String()))
	}
	if !object.present {
		return nil, "", badRequest(fmt.Errorf("request %s for Pod %s/%s carries no object", req.Operation, req.Namespace, req.Name))
	}
	if g.scope.Excluded(req.Namespace) {
		return nil, scope.NeverIntercepted(req.Namespace), nil
	}
	pod, err := object.decode()
	if err != nil {
		return nil, "", badRequest(fmt.Errorf("decoding Pod %s/%s: %w", req.Namespace, req.Name, err))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	ns, err := g.namespace(ctx, req.Namespace)
	if err != nil {
		return nil, "", err
	}
	d := g.scope.Pod(ns, pod.Labels)
	if !d.Guarded && req.Operation == admissionv1.Update && oldObject.present {
		// A label removed on UPDATE does not make a task runner something else.
		old, err := oldObject.decode()
		if err != nil {
			return nil, "", badRequest(fmt.Errorf("decoding the old Pod %s/%s: %w", req.Namespace, req.Name, err))
		}
		d = g.scope.Pod(ns, pod.Labels, old.Labels)
	}
	if !d.Guarded {
		return nil, d.Skipped, nil
	}
	t = &target{pod: pod, namespace: ns, mode: d.Mode, runnerNamespace: d.RunnerNamespace}
	if d.Warning != "" {
		t.warnings = append(t.warnings, d.Warning)
	}
	var pinWarning string
	if t.engine, pinWarning = scope.Engine(ns, g.Engine); pinWarning != "" {
		t.warnings = append(t.warnings, pinWarning)
	}
	return t, "", nil
}

// NamespaceSpec gives the managed-policy controller what it needs for ns.
func (g *Guard) NamespaceSpec(ns *corev1.Namespace) managed.Namespace {
	runnerNS := g.scope.RunnerNamespace(ns.Name, ns.Labels)
	mode, _ := g.scope.Mode(ns)
	return managed.Namespace{
		Spec:            g.managed.For(runnerNS),
		RunnerNamespace: runnerNS,
		Active:          g.Config.ManagedNetworkPolicy.Enabled && mode != scope.Off && !g.scope.Excluded(ns.Name),
	}
}

// namespace reads a namespace from the cache (not copied, server.go:
// callers only read it), or from the API server when the cache does not
// hold it yet.
func (g *Guard) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	err := g.Reader.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		err = g.Live.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns, nil
}

// networkPolicies lists the namespace's policies from the cache, and from
// the API server when the cache does not yet show one that selects the Pod.
// The cache does not copy them (server.go); the rules only read them.
func (g *Guard) networkPolicies(ctx context.Context, pod *corev1.Pod) ([]networkingv1.NetworkPolicy, error) {
	var cached networkingv1.NetworkPolicyList
	if err := g.Reader.List(ctx, &cached, client.InNamespace(pod.Namespace)); err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies of %s: %w", pod.Namespace, err)
	}
	if policy.SelectedForEgress(pod, cached.Items) {
		return cached.Items, nil
	}
	// A list of its own: decoding into cached would write into the cache's objects.
	var live networkingv1.NetworkPolicyList
	if err := g.Live.List(ctx, &live, client.InNamespace(pod.Namespace)); err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies of %s: %w", pod.Namespace, err)
	}
	return live.Items, nil
}

// managedSpec is the managed policy for a runner namespace or another.
func (g *Guard) managedSpec(runnerNamespace bool) managed.Spec {
	return g.managed.For(runnerNamespace)
}

// policySpec is managedSpec's NetworkPolicy spec, built once.
func (g *Guard) policySpec(runnerNamespace bool) *networkingv1.NetworkPolicySpec {
	if runnerNamespace {
		return &g.policySpecs.runnerNamespace
	}
	return &g.policySpecs.labelSelected
}

// violationsMessage lists every violation, one per line, for a denial.
func violationsMessage(pod *corev1.Pod, vs []policy.Violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kestra-guard denied Pod %s/%s:", pod.Namespace, podName(pod))
	for _, v := range vs {
		if v.Action == policy.Deny {
			fmt.Fprintf(&b, "\n- %s: %s: %s (%s)", v.Rule, v.Field, v.Reason, v.Detail)
		}
	}
	return b.String()
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	if p.GenerateName != "" {
		return p.GenerateName + "*"
	}
	return "(unnamed)"
}

// warning is one admission warning; the API server cuts long ones, so the
// field and rule come first.
func warning(prefix string, v policy.Violation) string {
	return fmt.Sprintf("kestra-guard %s%s: %s: %s", prefix, v.Rule, v.Field, v.Reason)
}
