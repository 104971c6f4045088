package policy

// no-host-path forbids hostPath volumes, mounted or not, except paths on the
// allow-list (hostPathAllowList), which every mount must mount read-only.
// Reads: spec.volumes[].hostPath.path and every container's volumeMounts.
// Paths are cleaned before any comparison; an allowed path admits what lies
// below it and never its parent. Value: the cleaned host path.

import "strconv"

// NoHostPathID is the stable ID of no-host-path.
const NoHostPathID = "no-host-path"

var noHostPath = Rule{
	ID:      NoHostPathID,
	Since:   "v0.1.0",
	Summary: "hostPath volumes, except read-only mounts of policy.hostPathAllowList",
	Doc: RuleDoc{
		Forbids: "any hostPath volume, mounted or not, except allow-listed paths (`policy.hostPathAllowList`) mounted read-only. Paths are cleaned (`//`, `/./`, `..`, trailing `/`) first; an allowed path admits what lies below it, never its parent. The detail names the credential location it is, contains or lies in (runtime sockets, kubelet, `/etc/kubernetes`, `/root`, `/home`, `/var/run/secrets`, `/`, ...; `/var/run` counts as `/run`)",
		Threat:  "the Docker socket or kubelet credentials are the node",
		Fix:     "use an emptyDir, ConfigMap or Secret",
	},
	Default:    Deny,
	FlowFields: []string{"hostPath"},
	Check: func(in *Input, o *Options) []Violation {
		var out []Violation
		spec := &in.Pod.Spec
		for i := range spec.Volumes {
			v := &spec.Volumes[i]
			if v.HostPath == nil {
				continue
			}
			field := "spec.volumes[" + strconv.Itoa(i) + "].hostPath.path"
			p := CleanHostPath(v.HostPath.Path)
			if !allowedHostPath(p, o.HostPathAllowList) {
				detail := "volume " + strconv.Quote(v.Name) + " mounts host path " + strconv.Quote(p)
				if exp := CredentialExposure(p); exp != "" {
					detail += ", which " + exp
				}
				out = append(out, Violation{Field: field, Reason: "host path volume is forbidden",
					Detail: detail + "; use an emptyDir, a ConfigMap or a Secret instead", Value: p})
				continue
			}
			visitContainers(spec, func(c containerRef) {
				for j := range c.VolumeMounts {
					m := &c.VolumeMounts[j]
					if m.Name == v.Name && !m.ReadOnly {
						out = append(out, writableMount(c, j, p))
					}
				}
			})
		}
		return out
	},
	// The API server refuses ".." in a host path; the CEL cleaning removes
	// "/./" and "//" a bounded number of times, so a path it does not fully
	// clean matches no allowed prefix and is refused (fail closed).
	InTree: &InTree{Checks: []CELCheck{
		{Each: "spec.volumes", Expr: `!has(v.hostPath) || variables.hostPathAllowList.exists(a,
			('/' + v.hostPath.path + '/').replace('/./', '/').replace('/./', '/').replace('//', '/').replace('//', '/').replace('//', '/').replace('//', '/').replace('//', '/')
			.startsWith(a.endsWith('/') ? a : a + '/'))`, Field: ".hostPath.path",
			Message: "host path volume is forbidden: use an emptyDir, a ConfigMap or a Secret instead"},
		{Each: EachContainer, Expr: `!object.spec.?volumes.orValue([]).exists(v, has(v.hostPath)) || c.?volumeMounts.orValue([]).all(m, m.?readOnly.orValue(false) ||
			!object.spec.?volumes.orValue([]).exists(v, v.name == m.name && has(v.hostPath)))`, Field: ".volumeMounts",
			Message: "allowed host path is mounted writable: set readOnly: true"},
	}, WebhookOnly: "a host path with more than a few repeated `/./` or `//` is refused rather than cleaned; the message does not name the credential location"},
}

func writableMount(c containerRef, j int, p string) Violation {
	return Violation{
		Field:  c.Path() + ".volumeMounts[" + strconv.Itoa(j) + "].readOnly",
		Reason: "allowed host path is mounted writable",
		Detail: "container " + strconv.Quote(c.Name) + " mounts allow-listed host path " + strconv.Quote(p) + " read-write; set readOnly: true",
		Value:  p,
	}
}
