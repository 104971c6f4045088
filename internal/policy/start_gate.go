package policy

// start-gate requires, when the start gate is on (policy.startGate.enabled),
// that a Pod's first init container is the gate mutation adds: the gate
// runs before every other container and lets them start only once egress to
// every metadata endpoint is blocked for the Pod (internal/gate). Reads:
// spec.initContainers[0] (name, image, command, args). Passes when the gate
// is off, or for a flow's pod overlay (mutation adds the gate to the Pod).

import "strconv"

// StartGateID is the stable ID of start-gate.
const StartGateID = "start-gate"

var startGate = Rule{
	ID:      StartGateID,
	Summary: "a Pod whose first init container is not kestra-guard's start gate (when policy.startGate is on)",
	Doc: RuleDoc{
		Forbids: "with `startGate.enabled`, a first init container other than the start gate `" + GateContainerName + "` (kestra-guard's image running `kestra-guard gate` with the configured endpoints)",
		Threat:  "task code that runs before the CNI applies the metadata-blocking NetworkPolicy reaches the metadata service",
		Fix:     "mutation puts the gate first; keep kestra-guard's mutating webhook in front of the Pod (a gate found elsewhere is refused)",
	},
	Default: Deny,
	Check: func(in *Input, o *Options) []Violation {
		if o.Gate == nil || in.Fragment {
			return nil
		}
		init := in.Pod.Spec.InitContainers
		if len(init) > 0 && o.IsGate(&init[0]) {
			return nil
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
}
