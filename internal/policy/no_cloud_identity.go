package policy

// no-cloud-identity reports a task-runner Pod wired to a cloud identity, so
// that user code would hold cloud credentials: env variables that point SDKs
// at a web identity or container credentials endpoint, and projected service
// account tokens for a non-Kubernetes audience (one neither empty nor in
// apiAudiences: those are API tokens, no-service-account-token's). Reads:
// env[].name of every container,
// spec.volumes[].projected.sources[].serviceAccountToken.audience.

import (
	"slices"
	"strconv"
)

var cloudIdentityEnv = []string{
	"AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_ROLE_ARN",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AZURE_FEDERATED_TOKEN_FILE",
	"GCE_METADATA_HOST",
}

// NoCloudIdentityID is the stable ID of no-cloud-identity.
const NoCloudIdentityID = "no-cloud-identity"

var noCloudIdentity = Rule{
	ID:      NoCloudIdentityID,
	Since:   "v0.1.0",
	Changes: []Change{{Version: NextVersion, Summary: "a projected token for an audience in policy.apiAudiences is no-service-account-token's, not a cloud identity", Before: withoutAPIAudiences}},
	Summary: "task runners wired to a cloud identity (web-identity or container-credentials env, projected tokens for a cloud audience)",
	Doc: RuleDoc{
		Forbids: "env `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_CONTAINER_CREDENTIALS_*`, `AZURE_FEDERATED_TOKEN_FILE`, `GCE_METADATA_HOST`; projected service account tokens for an audience other than the API server's (`policy.apiAudiences`)",
		Threat:  "cloud credentials in user code",
		Fix:     "give the task narrowly scoped credentials as a Secret",
	},
	Default:    Warn,
	FlowFields: nil,
	Check: func(in *Input, o *Options) []Violation {
		const reason = "Pod is wired to a cloud identity"
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			for i := range c.Env {
				if slices.Contains(cloudIdentityEnv, c.Env[i].Name) {
					out = append(out, Violation{Field: c.Path() + ".env[" + strconv.Itoa(i) + "].name", Reason: reason,
						Detail: "container " + strconv.Quote(c.Name) + " sets " + c.Env[i].Name + ", which hands cloud credentials to task code; give the task its own narrowly scoped credentials as a Secret"})
				}
			}
		})
		for i, v := range in.Pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for j, src := range v.Projected.Sources {
				if t := src.ServiceAccountToken; t != nil && !o.IsAPIAudience(t.Audience) {
					out = append(out, Violation{Field: "spec.volumes[" + strconv.Itoa(i) + "].projected.sources[" + strconv.Itoa(j) + "].serviceAccountToken.audience",
						Reason: reason, Detail: "volume " + strconv.Quote(v.Name) + " projects a token for audience " + strconv.Quote(t.Audience) + ", which a cloud exchanges for credentials; remove it"})
				}
			}
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `c.?env.orValue([]).all(e, !(e.name in ` + celStrings(cloudIdentityEnv) + `))`, Field: ".env",
			Message: "Pod is wired to a cloud identity: an env variable hands cloud credentials to task code; give the task its own narrowly scoped credentials as a Secret"},
		{Each: "spec.volumes", Expr: `!has(v.projected) || v.projected.?sources.orValue([]).all(s, !has(s.serviceAccountToken) ||
			s.serviceAccountToken.?audience.orValue('') == '' || s.serviceAccountToken.audience in variables.apiAudiences)`, Field: ".projected.sources",
			Message: "Pod is wired to a cloud identity: the volume projects a token for a non-Kubernetes audience, which a cloud exchanges for credentials; remove it"},
	}},
}
