// Package scope decides which Pods kestra-guard guards and how: the
// namespaces never intercepted, the runner namespaces (every Pod a task
// runner), the task-runner label selector, and the mode of a namespace with
// its fail-closed default. Webhooks, the managed-policy controller, audit and
// check all decide through one Scope, built once from the configuration.
package scope

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Mode is what kestra-guard does with a task-runner Pod's violations.
type Mode string

const (
	Enforce Mode = "enforce" // deny the Pod, after mutating it
	Audit   Mode = "audit"   // admit unchanged, report what enforce would do
	Off     Mode = "off"     // leave the Pod alone
)

// Valid reports whether m is enforce, audit or off.
func (m Mode) Valid() bool { return m == Enforce || m == Audit || m == Off }

// Labels read on namespaces.
const (
	ModeLabel   = "kestra-guard.io/mode"
	RunnerLabel = "kestra-guard.io/runner"
)

// Config is what a Scope is built from (the fields of the same names in
// kestra-guard's configuration).
type Config struct {
	Mode               Mode
	TaskRunnerSelector string
	RunnerNamespaces   []string
	// Namespace is kestra-guard's own namespace.
	Namespace string
}

// Scope is Config compiled: the selector is parsed once.
type Scope struct {
	mode             Mode
	runnerNamespaces []string
	own              string
	selectorText     string
	taskRunner       labels.Selector
	selector         metav1.LabelSelector
}

// New compiles c, and is where the mode and the selector are validated:
// the error names each bad field (mode, taskRunnerSelector), all at once.
func New(c Config) (*Scope, error) {
	var errs []error
	if !c.Mode.Valid() {
		errs = append(errs, fmt.Errorf("mode: %q: expected enforce, audit or off", c.Mode))
	}
	sel, err := labels.Parse(c.TaskRunnerSelector)
	var ls *metav1.LabelSelector
	if err == nil && c.TaskRunnerSelector != "" {
		ls, err = metav1.ParseToLabelSelector(c.TaskRunnerSelector)
	}
	if err != nil || c.TaskRunnerSelector == "" {
		errs = append(errs, fmt.Errorf("taskRunnerSelector: %q: expected a label selector such as kestra.io/taskrun-id", c.TaskRunnerSelector))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Scope{mode: c.Mode, runnerNamespaces: slices.Clone(c.RunnerNamespaces), own: c.Namespace,
		selectorText: c.TaskRunnerSelector, taskRunner: sel, selector: *ls}, nil
}

// Excluded reports whether kestra-guard leaves the namespace alone:
// kube-system and its own.
func (s *Scope) Excluded(namespace string) bool {
	return namespace == metav1.NamespaceSystem || namespace == s.own
}

// NeverIntercepted is why kestra-guard leaves an excluded namespace alone,
// as admission answers and check reports it.
func NeverIntercepted(namespace string) string {
	return "namespace " + namespace + " is never intercepted"
}

// RunnerNamespace reports whether every Pod of the namespace is a task
// runner: it is labelled kestra-guard.io/runner=true or listed in
// runnerNamespaces. Offline, with no Namespace object, labels is nil.
func (s *Scope) RunnerNamespace(name string, labels map[string]string) bool {
	return labels[RunnerLabel] == "true" || slices.Contains(s.runnerNamespaces, name)
}

// Pod is the answer to "does kestra-guard guard this Pod here, and how".
type Pod struct {
	// Guarded: the namespace is not excluded and the Pod is a task runner.
	Guarded bool
	// Excluded: the namespace is never intercepted (Excluded).
	Excluded bool
	// RunnerNamespace: every Pod of the namespace is a task runner.
	RunnerNamespace bool
	// Mode is the namespace's mode when Guarded (Scope.Mode), and Warning
	// says that an unknown mode label is enforced.
	Mode    Mode
	Warning string
	// Skipped says why the Pod is not guarded.
	Skipped string
}

// NotTaskRunner is Pod.Skipped for a Pod that is not a task runner.
const NotTaskRunner = "not a task-runner Pod"

// Pod answers, for the webhooks, check and audit alike, whether kestra-guard
// guards a Pod in namespace ns, and in which mode: it does when ns is not
// excluded and the Pod is a task runner, which every Pod of a runner
// namespace is, and elsewhere a Pod whose labels match the task-runner
// selector. podLabels are the Pod's labels; on UPDATE the old Pod's follow,
// since a label removed does not make a task runner something else. Offline
// (check), ns holds the name only: no label, so runnerNamespaces alone
// decide a runner namespace and the mode is the default.
func (s *Scope) Pod(ns *corev1.Namespace, podLabels ...map[string]string) Pod {
	out := Pod{RunnerNamespace: s.RunnerNamespace(ns.Name, ns.Labels)}
	if s.Excluded(ns.Name) {
		out.Excluded, out.Skipped = true, NeverIntercepted(ns.Name)
		return out
	}
	out.Guarded = out.RunnerNamespace || slices.ContainsFunc(podLabels, func(l map[string]string) bool { return s.taskRunner.Matches(labels.Set(l)) })
	if !out.Guarded {
		out.Skipped = NotTaskRunner
		return out
	}
	out.Mode, out.Warning = s.Mode(ns)
	return out
}

// Selector is the task-runner selector as a LabelSelector, for the managed
// policy's podSelector.
func (s *Scope) Selector() metav1.LabelSelector { return *s.selector.DeepCopy() }

// ListSelector is the parsed task-runner selector, for a list request
// that asks the API server for task runners only (the audit narrows its
// lists with it, and still decides each Pod by Pod); it must not be
// modified.
func (s *Scope) ListSelector() labels.Selector { return s.taskRunner }

// SelectorText is the task-runner selector as configured, for messages.
func (s *Scope) SelectorText() string { return s.selectorText }

// DefaultMode is the mode of a namespace without a kestra-guard.io/mode label.
func (s *Scope) DefaultMode() Mode { return s.mode }

// Mode is the namespace's kestra-guard.io/mode, or the default. An unknown
// value enforces (fail closed), and warning says so.
func (s *Scope) Mode(ns *corev1.Namespace) (m Mode, warning string) {
	v, ok := ns.Labels[ModeLabel]
	if !ok {
		return s.mode, ""
	}
	if m := Mode(v); m.Valid() {
		return m, ""
	}
	return Enforce, fmt.Sprintf("kestra-guard: namespace %s has %s=%q, expected enforce, audit or off; enforcing", ns.Name, ModeLabel, v)
}

// ExcludesTaskRunners reports whether a NetworkPolicy's podSelector can never
// select a task runner: it requires a key the task-runner selector needs to
// be absent. Any other selector may select one, since Pods choose their own
// labels.
func (s *Scope) ExcludesTaskRunners(podSelector metav1.LabelSelector) bool {
	var keys []string
	for k := range s.selector.MatchLabels {
		keys = append(keys, k)
	}
	for _, e := range s.selector.MatchExpressions {
		if e.Operator == metav1.LabelSelectorOpExists || e.Operator == metav1.LabelSelectorOpIn {
			keys = append(keys, e.Key)
		}
	}
	for _, e := range podSelector.MatchExpressions {
		if e.Operator == metav1.LabelSelectorOpDoesNotExist && slices.Contains(keys, e.Key) {
			return true
		}
	}
	return false
}
