package policy

import (
	"sync"
	"sync/atomic"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// openingsCache remembers PolicyOpenings for each version of a NetworkPolicy
// read from the API server: a UID and a resourceVersion always name the same
// content, so an edited policy (a new resourceVersion) is analysed again.
// The analysis parses every cidr and except, and was half of the time of
// evaluating a passing Pod. The cache serves only policies the caller read
// from the API server (Input.NetworkPoliciesServed): manifests read by check
// may share a UID and a resourceVersion with different content.
type openingsCache struct {
	m sync.Map // policyVersion -> []Opening
	n atomic.Int64
}

type policyVersion struct {
	uid             types.UID
	resourceVersion string
}

// maxCachedPolicies bounds the cache: past it, the cache starts again empty,
// so versions of edited and deleted policies do not pile up.
var maxCachedPolicies int64 = 4096

// policyOpenings is PolicyOpenings(p, o.Metadata, o.DNS), from the cache when p has
// been analysed before.
func (o *Options) policyOpenings(p *networkingv1.NetworkPolicy) []Opening {
	c := o.openings
	if c == nil || p.UID == "" || p.ResourceVersion == "" {
		return PolicyOpenings(p, o.Metadata, o.DNS)
	}
	k := policyVersion{p.UID, p.ResourceVersion}
	if v, ok := c.m.Load(k); ok {
		return v.([]Opening)
	}
	ops := PolicyOpenings(p, o.Metadata, o.DNS)
	if c.n.Add(1) > maxCachedPolicies {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(k, ops)
	return ops
}
