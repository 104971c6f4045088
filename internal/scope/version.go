package scope

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// EnforceVersionLabel pins a namespace to a rule-set version, as Pod
// Security Admission's pod-security.kubernetes.io/enforce-version does: its
// Pods are judged by the rules as they were at that version.
const EnforceVersionLabel = "kestra-guard.io/enforce-version"

// Engine is the engine that judges the namespace's Pods: the one at the
// version its kestra-guard.io/enforce-version label names, else e (the
// configured policy.ruleSetVersion). e holds the engine of every version,
// built once. An unknown or malformed value judges by latest (fail closed),
// and warning says so. ns may be nil (no Namespace object offline): e.
func Engine(ns *corev1.Namespace, e *policy.Engine) (pinned *policy.Engine, warning string) {
	if ns == nil {
		return e, ""
	}
	v, ok := ns.Labels[EnforceVersionLabel]
	if !ok {
		return e, ""
	}
	if at, found := e.At(v); found {
		return at, ""
	}
	return e.Latest(), fmt.Sprintf("kestra-guard: namespace %s has %s=%q, expected one of %s; judging by latest", ns.Name, EnforceVersionLabel, v, policy.AcceptedVersions())
}
