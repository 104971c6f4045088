package policy

// no-metadata-address forbids metadata addresses written into what a
// container runs: command, args and literal env values, the commands of exec
// probes and exec lifecycle hooks, and the Pod's hostAliases, in any
// encoding MetadataAddressIn recognises. Reads: command[], args[],
// env[].value, {liveness,readiness,startup}Probe.exec.command[] and
// lifecycle.{postStart,preStop}.exec.command[] of every container, and
// spec.hostAliases[].ip (an alias giving a name the metadata address; a
// metadata name aliased to another address leads away from it). Passes when
// none holds a metadata address or hostname. The start gate's own command and args name the
// endpoints it proves unreachable and are not read; its probes and hooks are.

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NoMetadataAddressID is the stable ID of no-metadata-address.
const NoMetadataAddressID = "no-metadata-address"

var noMetadataAddress = Rule{
	ID:      NoMetadataAddressID,
	Since:   "v0.1.0",
	Changes: []Change{{Version: NextVersion, Summary: "reads exec probes, exec lifecycle hooks and hostAliases[].ip; leaves the start gate's own command and args alone", Before: withoutFields(".livenessProbe.exec.", ".readinessProbe.exec.", ".startupProbe.exec.", ".lifecycle.postStart.exec.", ".lifecycle.preStop.exec.", "spec.hostAliases[")}},
	Summary: "metadata addresses and names written in command, args, env values, exec probes and hooks or hostAliases, in any encoding",
	Doc: RuleDoc{
		Forbids: "a metadata address in `command`, `args` or `env` values, in the `exec.command` of liveness, readiness and startup probes and of `postStart`/`preStop` hooks (the kubelet runs them in the container), or as the `ip` of a `spec.hostAliases` entry (written into the Pod's `/etc/hosts`), in the encodings HTTP clients and resolvers accept (each one in the unit tests and the fuzz oracle): dotted, decimal (`2852039166`), hex (`0xa9fea9fe`), octal (`0251.0376.0251.0376`), short (`169.254.43518`), with any number of leading zeros, IPv4-mapped and NAT64 IPv6, brackets, zones (even empty), percent-encoding (stray `%` ignored), URLs with ports or user info, Unicode look-alikes IDNA (UTS 46) maps to ASCII (full-width, mathematical, circled and superscript digits, ideographic full stops, soft hyphens and other ignored characters; mapped before and after percent-decoding), and `metadata.google.internal`",
		Threat:  "reading node credentials",
		Fix:     "remove it",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, o *Options) []Violation {
		var out []Violation
		visitContainers(&in.Pod.Spec, func(c containerRef) {
			// The start gate names the endpoints it proves unreachable.
			if !o.IsGate(c.Container) {
				for i, s := range c.Command {
					if found := o.MetadataAddressIn(s); found != "" {
						out = append(out, metadataViolation(c, ".command["+strconv.Itoa(i)+"]", found))
					}
				}
				for i, s := range c.Args {
					if found := o.MetadataAddressIn(s); found != "" {
						out = append(out, metadataViolation(c, ".args["+strconv.Itoa(i)+"]", found))
					}
				}
			}
			for i := range c.Env {
				if found := o.MetadataAddressIn(c.Env[i].Value); found != "" {
					out = append(out, metadataViolation(c, ".env["+strconv.Itoa(i)+"].value", found))
				}
			}
			out = execMetadata(out, o, c)
		})
		for i := range in.Pod.Spec.HostAliases {
			if found := o.MetadataAddressIn(in.Pod.Spec.HostAliases[i].IP); found != "" {
				out = append(out, hostAliasViolation("spec.hostAliases["+strconv.Itoa(i)+"].ip", found))
			}
		}
		return out
	},
	InTree: &InTree{Checks: []CELCheck{
		{Each: EachContainer, Expr: `(variables.gateEnabled && ` + celGate("c") + `) ||
			(c.?command.orValue([]) + c.?args.orValue([])).all(s, !` + celMetadataIn("s") + `)`, Field: ".{command,args}",
			Message: "metadata address in container spec: the command or args refer to the cloud metadata service; task code must not read node credentials"},
		{Each: EachContainer, Expr: `c.?env.orValue([]).all(e, !` + celMetadataIn("e.?value.orValue('')") + `)`, Field: ".env",
			Message: "metadata address in container spec: an env value refers to the cloud metadata service; task code must not read node credentials"},
		{Each: EachContainer, Expr: `[c.?livenessProbe.?exec.?command.orValue([]), c.?readinessProbe.?exec.?command.orValue([]), c.?startupProbe.?exec.?command.orValue([]),
			c.?lifecycle.?postStart.?exec.?command.orValue([]), c.?lifecycle.?preStop.?exec.?command.orValue([])].all(l, l.all(s, !` + celMetadataIn("s") + `))`,
			Field:   ".{livenessProbe,readinessProbe,startupProbe,lifecycle}.exec.command",
			Message: "metadata address in container spec: an exec probe or hook refers to the cloud metadata service; task code must not read node credentials"},
		{Each: "spec.hostAliases", Expr: `!` + celMetadataIn("v.?ip.orValue('')"), Field: ".ip",
			Message: "metadata address in host aliases: a host alias of the Pod refers to the cloud metadata service; task code must not read node credentials"},
	}, WebhookOnly: "CEL reads the metadata hostnames and IP literals (dotted IPv4, IPv6, with a port or a prefix and a colon, brackets, trailing dots and colons); decimal, hex, octal and short IPv4, leading zeros, IPv4-mapped and NAT64 IPv6, zones, percent-encoding and Unicode look-alikes are the webhook's"},
}

// execMetadata appends a violation for every metadata address in the
// exec.command of c's probes and lifecycle hooks.
func execMetadata(out []Violation, o *Options, c containerRef) []Violation {
	for _, p := range [...]struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if p.probe != nil && p.probe.Exec != nil {
			out = execCommandMetadata(out, o, c, p.name, p.probe.Exec)
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range [...]struct {
			name    string
			handler *corev1.LifecycleHandler
		}{{"lifecycle.postStart", l.PostStart}, {"lifecycle.preStop", l.PreStop}} {
			if h.handler != nil && h.handler.Exec != nil {
				out = execCommandMetadata(out, o, c, h.name, h.handler.Exec)
			}
		}
	}
	return out
}

func execCommandMetadata(out []Violation, o *Options, c containerRef, name string, exec *corev1.ExecAction) []Violation {
	for i, s := range exec.Command {
		if found := o.MetadataAddressIn(s); found != "" {
			out = append(out, metadataViolation(c, "."+name+".exec.command["+strconv.Itoa(i)+"]", found))
		}
	}
	return out
}

func hostAliasViolation(field, found string) Violation {
	return Violation{Field: field, Reason: "metadata address in host aliases",
		Detail: "a host alias of the Pod refers to the cloud metadata service (" + found + "); task code must not read node credentials"}
}

func metadataViolation(c containerRef, field, found string) Violation {
	return Violation{Field: c.Path() + field, Reason: "metadata address in container spec",
		Detail: "container " + strconv.Quote(c.Name) + " refers to the cloud metadata service (" + found + "); task code must not read node credentials"}
}
