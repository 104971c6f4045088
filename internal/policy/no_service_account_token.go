package policy

// no-service-account-token warns when a task-runner Pod gets an API token.
// Reads: spec.automountServiceAccountToken, and what is mounted:
// spec.volumes[].projected.sources[].serviceAccountToken for an audience
// the API server accepts (none, as the ServiceAccount admission plugin
// injects in kube-api-access-*, or one of apiAudiences, such as kubeadm's
// https://kubernetes.default.svc.cluster.local) mounted by any container.
// Passes when the flag is false and no such token is mounted; unset defers
// to the ServiceAccount, which the Pod alone cannot tell, so it fails too
// (mutation sets false when it is unset and removes the injected volume).
// Tokens for another audience are no-cloud-identity's.

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NoServiceAccountTokenID is the stable ID of no-service-account-token.
const NoServiceAccountTokenID = "no-service-account-token"

var noServiceAccountToken = Rule{
	ID:      NoServiceAccountTokenID,
	Since:   "v0.1.0",
	Changes: []Change{{Version: NextVersion, Summary: "a mounted projected token for an audience in policy.apiAudiences is an API token (it was no-cloud-identity's)", Before: withoutAPIAudiences}},
	Summary: "an API token mounted in a task runner",
	Doc: RuleDoc{
		Forbids: "`automountServiceAccountToken` not false, or a mounted projected `serviceAccountToken` for an audience the API server accepts, whatever the flag says: no audience (such as the `kube-api-access-*` volume the ServiceAccount admission plugin injects) or one of `policy.apiAudiences` (set it to your API server's `--api-audiences`; the default lists the usual ones, kubeadm's `https://kubernetes.default.svc.cluster.local` and EKS's `https://kubernetes.default.svc` among them)",
		Threat:  "user code with a Kubernetes API token",
		Fix:     "set false and drop the volume (mutation does both, except on a Pod that names a ServiceAccount other than `default`, which keeps its token and this warning)",
	},
	Default:    Warn,
	FlowFields: []string{"automountServiceAccountToken"},
	Check: func(in *Input, o *Options) []Violation {
		var out []Violation
		a := in.Pod.Spec.AutomountServiceAccountToken
		switch {
		case a != nil && !*a, a == nil && in.Fragment:
		case a != nil:
			out = append(out, Violation{Field: "spec.automountServiceAccountToken", Reason: "service account token is mounted",
				Detail: "automountServiceAccountToken=true gives user code a Kubernetes API token; set it to false unless the task calls the API"})
		default:
			out = append(out, Violation{Field: "spec.automountServiceAccountToken", Reason: "service account token may be mounted",
				Detail: "automountServiceAccountToken is unset, so the ServiceAccount decides; set it to false"})
		}
		for i := range in.Pod.Spec.Volumes {
			v := &in.Pod.Spec.Volumes[i]
			if v.Projected == nil || !mounted(&in.Pod.Spec, v.Name) {
				continue
			}
			for j, src := range v.Projected.Sources {
				t := src.ServiceAccountToken
				if t == nil || !o.IsAPIAudience(t.Audience) {
					continue
				}
				field, what := "spec.volumes["+strconv.Itoa(i)+"].projected.sources["+strconv.Itoa(j)+"].serviceAccountToken", "a Kubernetes API token"
				if t.Audience != "" {
					field, what = field+".audience", "a token for audience "+strconv.Quote(t.Audience)+", which the API server accepts (apiAudiences),"
				}
				out = append(out, Violation{Field: field, Reason: "service account token is mounted",
					Detail: "volume " + strconv.Quote(v.Name) + " projects " + what + " that containers mount, whatever automountServiceAccountToken says; remove the volume and its mounts"})
			}
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Expr: `object.spec.?automountServiceAccountToken.orValue(true) == false`, Field: "spec.automountServiceAccountToken",
			Message: "service account token may be mounted: automountServiceAccountToken is not false; set it to false unless the task calls the API"},
		{Each: "spec.volumes", Expr: `!has(v.projected) || !v.projected.?sources.orValue([]).exists(s, has(s.serviceAccountToken) &&
			(s.serviceAccountToken.?audience.orValue('') == '' || s.serviceAccountToken.audience in variables.apiAudiences)) || !` + celMounted("v.name"),
			Field: ".projected.sources", Message: "service account token is mounted: the volume projects a Kubernetes API token that containers mount; remove the volume and its mounts"},
	}},
}

// mounted reports whether any container mounts the volume name.
func mounted(spec *corev1.PodSpec, name string) bool {
	found := false
	visitContainers(spec, func(c containerRef) {
		found = found || slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name })
	})
	return found
}
