package policy

import (
	"fmt"
	"slices"
	"strings"
)

// A projected serviceAccountToken is an API token when the API server
// accepts its audience: with no audience it gets the API server's own
// (--api-audiences, which defaults to --service-account-issuer), and a Pod
// can also name one of those explicitly. Which ones a cluster accepts is its
// API server's --api-audiences; DefaultAPIAudiences covers the usual ones.

// DefaultAPIAudiences are the audiences API servers commonly accept:
// https://kubernetes.default.svc.cluster.local is kubeadm's issuer (and so,
// with no --api-audiences, its API audience), and k3s and RKE2 add their
// program name to it ("k3s", "rke2"; their older releases used "unknown");
// https://kubernetes.default.svc is EKS's, OpenShift's and k0s's (which adds
// system:konnectivity-server with Konnectivity); the in-cluster names
// without a scheme and "api" are common choices of self-managed clusters.
// Clusters whose API audience is their own issuer URL (GKE, AKS, a
// self-managed OIDC issuer) must list it in apiAudiences.
var DefaultAPIAudiences = []string{
	"https://kubernetes.default.svc",
	"https://kubernetes.default.svc.cluster.local",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
	"api",
	"k3s",
	"rke2",
	"unknown",
	"system:konnectivity-server",
}

// compileAPIAudiences keeps apiAudiences as given: the API server compares
// audiences as exact strings, so one with surrounding spaces is a mistake.
func (o *Options) compileAPIAudiences(audiences []string, errs []error) []error {
	for i, a := range audiences {
		if strings.TrimSpace(a) != a {
			errs = append(errs, fmt.Errorf("apiAudiences[%d]: %q: expected an audience exactly as the API server's --api-audiences lists it, without surrounding spaces", i, a))
			continue
		}
		o.APIAudiences = append(o.APIAudiences, a)
	}
	return errs
}

// IsAPIAudience reports whether a token for audience is an API token: no
// audience (the API server's default), or one of apiAudiences.
func (o *Options) IsAPIAudience(audience string) bool {
	return audience == "" || slices.Contains(o.APIAudiences, audience)
}
