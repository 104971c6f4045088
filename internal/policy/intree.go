package policy

import (
	"strconv"
	"strings"
)

// InTree is a rule's form for the API server's own admission: CEL checks a
// ValidatingAdmissionPolicy evaluates, so that the rule holds while no
// kestra-guard replica answers. `make generate` writes them into the chart
// (internal/intree). A rule without one (nil) is decided by the webhook only.
type InTree struct {
	// Checks each hold for a Pod the rule passes; a Pod fails the rule in
	// the API server when any of them is false.
	Checks []CELCheck
	// WebhookOnly names what the webhook decides and the checks do not
	// ("" when they decide exactly as Check does). The README's outage table
	// prints it.
	WebhookOnly string
	// Param: the checks read the namespace's managed NetworkPolicy as
	// params (metadata-egress-blocked); without one the Pod is refused.
	Param bool
}

// Where a CELCheck is evaluated (CELCheck.Each).
const (
	// EachPod evaluates once, over object (the Pod).
	EachPod = ""
	// EachContainer evaluates for every init, regular and ephemeral
	// container, as c.
	EachContainer = "containers"
)

// CELCheck is one CEL expression of a rule's in-tree form.
//
// Expressions may read object, params (with InTree.Param) and the policy's
// variables: hostPathAllowList, metadataCIDRs, metadataHostnamePattern,
// apiAudiences, allowedRegistries (the policy.* values of the same name),
// gateEnabled and gate* (the start gate as the chart configures it).
type CELCheck struct {
	// Each is EachPod, EachContainer, or the field path of a list of the
	// Pod ("spec.volumes"), whose items the expression reads as v.
	Each string
	// Expr is a CEL expression that is true when the Pod (the container,
	// the item) passes.
	Expr string
	// Field is the field path of what fails: below the container or item
	// (".securityContext.privileged"), or the whole path for EachPod.
	Field string
	// Message is the reason and the fix, as the webhook's detail says them.
	Message string
}

// ContainerLists are the Pod's container lists, in visitContainers' order.
var ContainerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// celStrings is a CEL list literal of ss.
func celStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// celMounted is a CEL expression true when a container mounts the volume
// whose name is the expression name.
func celMounted(name string) string {
	parts := make([]string, len(ContainerLists))
	for i, l := range ContainerLists {
		parts[i] = "object.spec.?" + l + ".orValue([]).exists(c, c.?volumeMounts.orValue([]).exists(m, m.name == " + name + "))"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// celMetadataIn is a CEL expression true when the string expression s holds
// a metadata hostname (variables.metadataHostnamePattern: the hostnames
// quoted, joined and matched without regard to case, as the chart renders
// it; one pass of a compiled expression where a lowered copy and a
// comprehension over the names cost the API server several times more) or a
// metadata IP literal in one of its common spellings: the tokens of
// MetadataAddressIn (runs of letters, digits and ".:[]%") that may hold an
// address CEL's isIP reads (a digit and a dot, or two colons: no IPv4 or
// IPv6 literal is written without them; the other tokens are never
// matched, which spares the API server the work of one in every word of a
// script), each read as metadataToken reads it: as is, without its
// trailing dots and colons (tr), inside brackets, and when tr has one
// colon, either side of it (host:port, or a prefix before the address). s
// is evaluated once. The other encodings are the webhook's.
func celMetadataIn(s string) string {
	return `[` + s + `].exists(str, str.matches(variables.metadataHostnamePattern) ||
		str.findAll('` + celAddressTokens + `').exists(t, [t.find('^.*[^.:]')].exists(tr,
			([t, tr, t.replace('[', '').split(']')[0]] + (tr.split(':').size() == 2 ? tr.split(':') : []))
			.exists(a, isIP(a) && variables.metadataCIDRs.exists(r, cidr(r).ip().family() == ip(a).family() && cidr(r).containsIP(a))))))`
}

// celAddressTokens matches, in a CEL string literal, the runs of letters,
// digits and ".:[]%" that hold a digit and a dot (one before the other) or
// two colons: a leftmost match starts at the run's first character and its
// last part runs to the run's end.
const celAddressTokens = `[0-9A-Za-z.:\\[\\]%]*(?:[0-9][0-9A-Za-z.:\\[\\]%]*\\.|\\.[0-9A-Za-z.:\\[\\]%]*[0-9]|:[0-9A-Za-z.\\[\\]%]*:)[0-9A-Za-z.:\\[\\]%]*`

// celNormalizedImage is the CEL form of NormalizeImage for the common
// spellings of the image expression img.
func celNormalizedImage(img string) string {
	first := `(` + img + `).split('/')[0]`
	return `(!(` + img + `).contains('/') ? 'docker.io/library/' + (` + img + `) :
		(` + first + `.contains('.') || ` + first + `.contains(':') || ` + first + ` == 'localhost') ?
			(` + first + ` == 'docker.io' && (` + img + `).split('/').size() == 2 ? 'docker.io/library/' + (` + img + `).substring(10) : (` + img + `)) :
		'docker.io/' + (` + img + `))`
}

// celGate is a CEL expression true when the container expression g is the
// start gate as the chart configures it (see start_gate.go).
func celGate(g string) string {
	return `(` + g + `.name == variables.gateName && ` + g + `.?image.orValue('') == variables.gateImage &&
		` + g + `.?imagePullPolicy.orValue('') == variables.gatePullPolicy &&
		` + g + `.?command.orValue([]) == ['/kestra-guard'] && ` + g + `.?args.orValue([]) == variables.gateArgs &&
		!has(` + g + `.restartPolicy) && !has(` + g + `.volumeMounts) && !has(` + g + `.volumeDevices) && !has(` + g + `.env) && !has(` + g + `.envFrom) &&
		!has(` + g + `.workingDir) && !has(` + g + `.livenessProbe) && !has(` + g + `.readinessProbe) && !has(` + g + `.startupProbe) && !has(` + g + `.lifecycle))`
}
