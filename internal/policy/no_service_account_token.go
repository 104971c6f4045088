package policy

// no-service-account-token warns when a task-runner Pod gets an API token.
// Reads: spec.automountServiceAccountToken. Passes when it is false; unset
// defers to the ServiceAccount, which the Pod alone cannot tell, so it fails
// too (mutation sets false when it is unset).

var noServiceAccountToken = Rule{
	ID:      "no-service-account-token",
	Default: Warn,
	Check: func(in *Input, _ *Options) []Violation {
		a := in.Pod.Spec.AutomountServiceAccountToken
		switch {
		case a != nil && !*a:
			return nil
		case a != nil:
			return []Violation{{Field: "spec.automountServiceAccountToken", Reason: "service account token is mounted",
				Detail: "automountServiceAccountToken=true gives user code a Kubernetes API token; set it to false unless the task calls the API"}}
		case in.Fragment:
			return nil
		}
		return []Violation{{Field: "spec.automountServiceAccountToken", Reason: "service account token may be mounted",
			Detail: "automountServiceAccountToken is unset, so the ServiceAccount decides; set it to false"}}
	},
}
