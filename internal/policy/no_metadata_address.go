package policy

// no-metadata-address forbids metadata addresses written into what a
// container runs: command, args and literal env values, in any encoding
// MetadataAddressIn recognises. Reads: command[], args[], env[].value of
// every container. Passes when none holds a metadata address or hostname.

import "strconv"

// NoMetadataAddressID is the stable ID of no-metadata-address.
const NoMetadataAddressID = "no-metadata-address"

var noMetadataAddress = Rule{
	ID:      NoMetadataAddressID,
	Summary: "metadata addresses and names written in command, args or env values, in any encoding",
	Doc: RuleDoc{
		Forbids: "a metadata address in `command`, `args` or `env` values, in the encodings HTTP clients and resolvers accept (each one in the unit tests and the fuzz oracle): dotted, decimal (`2852039166`), hex (`0xa9fea9fe`), octal (`0251.0376.0251.0376`), short (`169.254.43518`), with any number of leading zeros, IPv4-mapped and NAT64 IPv6, brackets, zones (even empty), percent-encoding (stray `%` ignored), URLs with ports or user info, Unicode look-alikes IDNA (UTS 46) maps to ASCII (full-width, mathematical, circled and superscript digits, ideographic full stops, soft hyphens and other ignored characters; mapped before and after percent-decoding), and `metadata.google.internal`",
		Threat:  "reading node credentials",
		Fix:     "remove it",
	},
	Default: Deny,
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
		})
		return out
	},
}

func metadataViolation(c containerRef, field, found string) Violation {
	return Violation{Field: c.Path() + field, Reason: "metadata address in container spec",
		Detail: "container " + strconv.Quote(c.Name) + " refers to the cloud metadata service (" + found + "); task code must not read node credentials"}
}
