// Package scope decides which Pods kestra-guard guards and how: the
// namespaces never intercepted, the runner namespaces (every Pod a task
// runner), the task-runner label selector, and the mode of a namespace with
// its fail-closed default. Webhooks, the managed-policy controller, audit and
// check all decide through one Scope, built once from the configuration.
package scope

import (
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

// New compiles c; the error names the field. It checks only what it
// parses: config.Validate refuses an empty selector or an unknown mode
// before serve, check or audit build a Scope.
func New(c Config) (*Scope, error) {
	sel, err := labels.Parse(c.TaskRunnerSelector)
	if err != nil {
		return nil, fmt.Errorf("taskRunnerSelector: %q: expected a label selector such as kestra.io/taskrun-id", c.TaskRunnerSelector)
	}
	ls, err := metav1.ParseToLabelSelector(c.TaskRunnerSelector)
	if err != nil {
		return nil, fmt.Errorf("taskRunnerSelector: %q: %w", c.TaskRunnerSelector, err)
	}
	return &Scope{mode: c.Mode, runnerNamespaces: slices.Clone(c.RunnerNamespaces), own: c.Namespace,
		selectorText: c.TaskRunnerSelector, taskRunner: sel, selector: *ls}, nil
}

// Excluded reports whether kestra-guard leaves the namespace alone:
// kube-system and its own.
func (s *Scope) Excluded(namespace string) bool {
	return namespace == metav1.NamespaceSystem || namespace == s.own
}

// RunnerNamespace reports whether every Pod of the namespace is a task
// runner: it is labelled kestra-guard.io/runner=true or listed in
// runnerNamespaces. Offline, with no Namespace object, labels is nil.
func (s *Scope) RunnerNamespace(name string, labels map[string]string) bool {
	return labels[RunnerLabel] == "true" || slices.Contains(s.runnerNamespaces, name)
}

// TaskRunner reports whether Pod labels match the task-runner selector.
func (s *Scope) TaskRunner(podLabels map[string]string) bool {
	return s.taskRunner.Matches(labels.Set(podLabels))
}

// Selector is the task-runner selector as a LabelSelector, for the managed
// policy's podSelector.
func (s *Scope) Selector() metav1.LabelSelector { return *s.selector.DeepCopy() }

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
