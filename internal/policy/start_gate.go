package policy

// start-gate requires, when the start gate is on (policy.startGate.enabled),
// that a Pod's first init container is the gate mutation adds, field for
// field: the gate runs before every other container and lets them start only
// once egress to every metadata endpoint is blocked for the Pod
// (internal/gate). The kubelet may start an ephemeral container before the
// init containers are done, so one is refused until the Pod's status shows
// the gate ended with exit code 0. Reads: spec.initContainers[0],
// spec.ephemeralContainers, status.initContainerStatuses. Passes when the
// gate is off, or for a flow's pod overlay (mutation adds the gate to the Pod).

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// StartGateID is the stable ID of start-gate.
const StartGateID = "start-gate"

var startGate = Rule{
	ID:      StartGateID,
	Since:   NextVersion,
	Summary: "a Pod whose first init container is not kestra-guard's start gate (when policy.startGate is on)",
	Doc: RuleDoc{
		Forbids: "with `startGate.enabled`, a first init container other than the start gate `" + GateContainerName + "` (kestra-guard's image running `kestra-guard gate` with the configured endpoints)",
		Threat:  "task code that runs before the CNI applies the metadata-blocking NetworkPolicy reaches the metadata service",
		Fix:     "mutation puts the gate first; keep kestra-guard's mutating webhook in front of the Pod (a gate found elsewhere is refused)",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, o *Options) []Violation {
		if o.Gate == nil || in.Fragment {
			return nil
		}
		init := in.Pod.Spec.InitContainers
		if len(init) > 0 && o.IsGate(&init[0]) {
			return ephemeralBeforeGate(in.Pod, o)
		}
		detail := "the Pod has no init container"
		switch {
		case len(init) > 0 && init[0].Name == o.Gate.Name:
			detail = "the first init container is named like the start gate but differs from it (restartPolicy, volumeMounts, env, probes, securityContext or another field: a copy could start the next container early or run another binary)"
		case len(init) > 0:
			detail = "the first init container is " + strconv.Quote(init[0].Name) + " (image " + strconv.Quote(init[0].Image) + ")"
		}
		return []Violation{{Field: "spec.initContainers[0]", Reason: "the start gate is not the first init container",
			Detail: detail + "; want " + strconv.Quote(o.Gate.Name) + " with image " + strconv.Quote(o.Gate.Image) + " and the configured arguments, so that no container runs before metadata egress is blocked"}}
	},
	// In-tree the gate is compared field by field where a copy could
	// change what runs or when: name, image, pull policy, command, args,
	// and none of restartPolicy, volume mounts or devices, env, workingDir,
	// probes or hooks (its securityContext is every other rule's).
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `!variables.gateEnabled || (object.spec.?initContainers.orValue([]).size() > 0 && ` + celGate("object.spec.initContainers[0]") + `)`, Field: "spec.initContainers[0]",
			Message: "the start gate is not the first init container: mutation puts it first; keep kestra-guard's mutation in front of the Pod, so that no container runs before metadata egress is blocked"},
		{Expr: `!variables.gateEnabled || object.spec.?ephemeralContainers.orValue([]).size() == 0 ||
			object.status.?initContainerStatuses.orValue([]).exists(s, s.name == variables.gateName && s.?state.?terminated.?exitCode.orValue(1) == 0)`, Field: "spec.ephemeralContainers[0]",
			Message: "an ephemeral container before the start gate passed: add it once the gate has ended with exit code 0"},
	}, WebhookOnly: "the gate's resources and securityContext are compared by the webhook only (every other rule still judges its securityContext)"},
}

// ephemeralBeforeGate refuses ephemeral containers while the gate has not
// ended with exit code 0.
func ephemeralBeforeGate(pod *corev1.Pod, o *Options) []Violation {
	if len(pod.Spec.EphemeralContainers) == 0 {
		return nil
	}
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == o.Gate.Name && s.State.Terminated != nil && s.State.Terminated.ExitCode == 0 {
			return nil
		}
	}
	return []Violation{{Field: "spec.ephemeralContainers[0]", Reason: "an ephemeral container before the start gate passed",
		Detail: "the kubelet may start an ephemeral container before the init containers end; the Pod's status does not show " + strconv.Quote(o.Gate.Name) + " ended with exit code 0, so metadata egress may not be blocked yet: add it once the gate has passed"}}
}
