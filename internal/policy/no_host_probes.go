package policy

// no-host-probes forbids a host on probes and lifecycle hooks. The kubelet
// runs them itself, from the node's network, where no NetworkPolicy applies:
// httpGet {host: 169.254.169.254, path: /latest/meta-data/...} reads node
// credentials, and any other host reaches what only the node may reach.
// Reads: livenessProbe, readinessProbe, startupProbe and lifecycle.postStart,
// lifecycle.preStop, each .httpGet.host and .tcpSocket.host, of every init,
// regular and ephemeral container. Allowed: "" (unset), which targets the
// Pod's own IP. The same ground as Pod Security baseline's
// hostProbesAndHostLifecycle (1.34+).
//
// Its own ID rather than part of no-metadata-address: every host is refused,
// not only metadata addresses (a node-local service or a Pod outside the
// egress policy is as bad), so the check needs no address decoding and
// cannot be fooled by a spelling; and the fix differs (drop the field, not
// rewrite a command). The name follows no-host-network and no-host-ports.

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NoHostProbesID is the stable ID of no-host-probes.
const NoHostProbesID = "no-host-probes"

var noHostProbes = Rule{
	ID:      NoHostProbesID,
	Since:   "v0.1.0",
	Summary: "a host on probes and lifecycle hooks (the kubelet would connect there from the node's network)",
	Doc: RuleDoc{
		Forbids: "`host` of `httpGet`/`tcpSocket` in liveness, readiness and startup probes and `postStart`/`preStop` hooks, every container",
		Threat:  "the kubelet connects there from the node's network, outside every NetworkPolicy (e.g. `httpGet: {host: 169.254.169.254}` reads node credentials); Pod Security baseline forbids it since 1.34",
		Fix:     "remove `host`: the Pod's own IP is used",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			for _, h := range c.probeHosts() {
				out = append(out, Violation{Field: c.Path() + "." + h.field, Reason: "probe or lifecycle host is forbidden",
					Detail: "container " + strconv.Quote(c.Name) + " has " + h.field + "=" + strconv.Quote(h.host) +
						": the kubelet connects there from the node's network, outside every NetworkPolicy; remove host so the Pod's own IP is used"})
			}
		})
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `!has(c.livenessProbe) && !has(c.readinessProbe) && !has(c.startupProbe) && !has(c.lifecycle) ||
			[c.?livenessProbe.?httpGet.?host, c.?livenessProbe.?tcpSocket.?host,
			c.?readinessProbe.?httpGet.?host, c.?readinessProbe.?tcpSocket.?host,
			c.?startupProbe.?httpGet.?host, c.?startupProbe.?tcpSocket.?host,
			c.?lifecycle.?postStart.?httpGet.?host, c.?lifecycle.?postStart.?tcpSocket.?host,
			c.?lifecycle.?preStop.?httpGet.?host, c.?lifecycle.?preStop.?tcpSocket.?host].all(h, h.orValue('') == '')`, Field: ".{livenessProbe,readinessProbe,startupProbe,lifecycle}.host",
			Message: "probe or lifecycle host is forbidden: the kubelet connects there from the node's network, outside every NetworkPolicy; remove host so the Pod's own IP is used"},
	}},
}

type probeHost struct{ field, host string }

// probeHosts lists every host set on c's probes and lifecycle hooks, with
// its field path below the container. It allocates only when one is set.
func (c containerRef) probeHosts() []probeHost {
	var out []probeHost
	for _, p := range [...]struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if p.probe != nil {
			out = handlerHosts(out, p.name, p.probe.HTTPGet, p.probe.TCPSocket)
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range [...]struct {
			name    string
			handler *corev1.LifecycleHandler
		}{{"lifecycle.postStart", l.PostStart}, {"lifecycle.preStop", l.PreStop}} {
			if h.handler != nil {
				out = handlerHosts(out, h.name, h.handler.HTTPGet, h.handler.TCPSocket)
			}
		}
	}
	return out
}

func handlerHosts(out []probeHost, name string, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) []probeHost {
	if http != nil && http.Host != "" {
		out = append(out, probeHost{name + ".httpGet.host", http.Host})
	}
	if tcp != nil && tcp.Host != "" {
		out = append(out, probeHost{name + ".tcpSocket.host", tcp.Host})
	}
	return out
}
