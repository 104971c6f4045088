// Package exception decides which PolicyExceptions apply to a Pod and which
// of its violations they waive. It is pure: the caller lists the exceptions
// of the Pod's namespace and gives the time.
package exception

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Labels Kestra puts on its task-runner Pods.
const (
	NamespaceLabel = "kestra.io/namespace"
	FlowLabel      = "kestra.io/flow-id"
	TaskLabel      = "kestra.io/task-id"
)

// Ref names an exception in warnings, reports and metrics.
type Ref struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Reason    string     `json:"reason"`
	Owner     string     `json:"owner,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
}

func refOf(e *v1alpha1.PolicyException) Ref {
	r := Ref{Namespace: e.Namespace, Name: e.Name, Reason: e.Spec.Reason, Owner: e.Spec.Owner}
	if e.Spec.Expires != nil {
		t := e.Spec.Expires.UTC()
		r.Expires = &t
	}
	return r
}

// String is namespace/name.
func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Describe is namespace/name with the reason and owner, for warnings.
func (r Ref) Describe() string {
	s := "PolicyException " + r.String() + " (reason: " + strconv.Quote(r.Reason)
	if r.Owner != "" {
		s += ", owner: " + strconv.Quote(r.Owner)
	}
	if r.Expires != nil {
		s += ", expires " + r.Expires.Format(time.RFC3339)
	}
	return s + ")"
}

// Waiver is one violation an exception waived.
type Waiver struct {
	policy.Violation
	Exception Ref `json:"exception"`
}

// Expired is an expired exception that would otherwise have waived
// violations of the Pod, with the rules it no longer waives.
type Expired struct {
	Exception Ref      `json:"exception"`
	Rules     []string `json:"rules"`
}

// Message says that the exception expired and what it no longer waives.
func (e Expired) Message() string {
	return fmt.Sprintf("PolicyException %s expired at %s and no longer waives %s (owner: %q)",
		e.Exception.String(), e.Exception.Expires.Format(time.RFC3339), strings.Join(e.Rules, ", "), e.Exception.Owner)
}

// Outcome is what the exceptions did to a Pod's violations. Violations is
// what remains to decide on; it is nil when every violation was waived.
type Outcome struct {
	Violations  []policy.Violation
	Waived      []Waiver
	Expired     []Expired
	Unrequested []Unrequested
	// Unreadable are the exceptions of the Pod's namespace that could not be
	// read (set by the caller that read them): they waived nothing.
	Unreadable []Unreadable
}

// Notes are the messages of the exceptions that did not waive what they
// would have: expired, untrusted request, unreadable.
func (o Outcome) Notes() []string {
	var out []string
	for _, x := range o.Expired {
		out = append(out, x.Message())
	}
	for _, u := range o.Unrequested {
		out = append(out, u.Message())
	}
	for _, u := range o.Unreadable {
		out = append(out, u.Message())
	}
	return out
}

// Requester is who sent an admission request, as the API server
// authenticated it. A nil *Requester is no request at all (check, the
// background audit): exceptions with match.requestedBy then waive nothing.
type Requester struct {
	User   string
	Groups []string
}

// Unrequested is an exception that would have waived violations of the Pod
// but trusts only requests from other identities (or there was no request).
type Unrequested struct {
	Exception Ref      `json:"exception"`
	Rules     []string `json:"rules"`
	// Trusted lists the identities the exception trusts; By is the
	// request's user, "" offline.
	Trusted string `json:"trusted"`
	By      string `json:"by,omitempty"`
	Offline bool   `json:"offline,omitempty"`
}

// Message says that the exception did not apply to this request and why.
func (u Unrequested) Message() string {
	if u.Offline {
		return fmt.Sprintf("PolicyException %s waives nothing here: it applies only at admission, to Pods requested by %s; check and the audit have no request to compare (it would waive %s)",
			u.Exception.String(), u.Trusted, strings.Join(u.Rules, ", "))
	}
	return fmt.Sprintf("PolicyException %s does not waive %s for this request: it trusts Pods requested by %s, and the request came from %q",
		u.Exception.String(), strings.Join(u.Rules, ", "), u.Trusted, u.By)
}

// Apply returns the violations of pod that no exception in excs waives.
// Only exceptions of the Pod's namespace count; an exception waives a
// violation when it names the rule (with the violation's value among its
// values, when it lists values), its images cover the violation, it has
// not expired and, when it names requestedBy, req is one of those
// identities. An expired exception, or one whose requestedBy req does not
// satisfy, is reported (Expired, Unrequested) when it would have waived a
// violation that remains. The first exception (by name) that waives a
// violation is the one named.
func Apply(excs []v1alpha1.PolicyException, pod *corev1.Pod, vs []policy.Violation, now time.Time, req *Requester) Outcome {
	if len(excs) == 0 || len(vs) == 0 || pod == nil {
		return Outcome{Violations: vs}
	}
	order := make([]*v1alpha1.PolicyException, 0, len(excs))
	for i := range excs {
		if e := &excs[i]; e.Namespace == pod.Namespace && matchesLabels(&e.Spec.Match, pod.Labels) {
			order = append(order, e)
		}
	}
	if len(order) == 0 {
		return Outcome{Violations: vs}
	}
	slices.SortFunc(order, func(a, b *v1alpha1.PolicyException) int { return strings.Compare(a.Name, b.Name) })
	var out Outcome
	expired := map[*v1alpha1.PolicyException]*Expired{}
	unrequested := map[*v1alpha1.PolicyException]*Unrequested{}
	for _, v := range vs {
		var by *v1alpha1.PolicyException
		var lapsed, untrusted []*v1alpha1.PolicyException
		for _, e := range order {
			if !Waives(e, v) || !imagesCover(e.Spec.Match.Images, pod, v.Field) {
				continue
			}
			if IsExpired(e, now) {
				lapsed = append(lapsed, e)
				continue
			}
			if !requested(e.Spec.Match.RequestedBy, req) {
				untrusted = append(untrusted, e)
				continue
			}
			by = e
			break
		}
		if by != nil {
			out.Waived = append(out.Waived, Waiver{Violation: v, Exception: refOf(by)})
			continue
		}
		out.Violations = append(out.Violations, v)
		// Only an expiry or an untrusted request that changes the outcome
		// is reported.
		for _, e := range lapsed {
			x := expired[e]
			if x == nil {
				x = &Expired{Exception: refOf(e)}
				expired[e] = x
			}
			if !slices.Contains(x.Rules, v.Rule) {
				x.Rules = append(x.Rules, v.Rule)
			}
		}
		for _, e := range untrusted {
			u := unrequested[e]
			if u == nil {
				u = &Unrequested{Exception: refOf(e), Trusted: describeTrusted(e.Spec.Match.RequestedBy), Offline: req == nil}
				if req != nil {
					u.By = req.User
				}
				unrequested[e] = u
			}
			if !slices.Contains(u.Rules, v.Rule) {
				u.Rules = append(u.Rules, v.Rule)
			}
		}
	}
	for _, e := range order {
		if x := expired[e]; x != nil {
			out.Expired = append(out.Expired, *x)
		}
		if u := unrequested[e]; u != nil {
			out.Unrequested = append(out.Unrequested, *u)
		}
	}
	return out
}

// Waives reports whether e names v's rule for v: in spec.rules, in a
// spec.waive entry without values, or in one whose values hold v's value.
// Match (labels, images, requestedBy) and expiry are not looked at.
func Waives(e *v1alpha1.PolicyException, v policy.Violation) bool {
	rule := v1alpha1.RuleID(v.Rule)
	if slices.Contains(e.Spec.Rules, rule) {
		return true
	}
	for i := range e.Spec.Waive {
		w := &e.Spec.Waive[i]
		if w.Rule != rule {
			continue
		}
		if len(w.Values) == 0 {
			return true
		}
		same, ok := valueRules[v.Rule]
		if !ok || v.Value == "" {
			return false // a rule without values, or the absence of a setting: never waived by value
		}
		return slices.ContainsFunc(w.Values, func(allowed string) bool { return same(allowed, v.Value) })
	}
	return false
}

// valueRules are the rules whose violations carry a Value, each with how a
// value an exception lists compares with it. The CRD's validation of
// spec.waive[].values names the same rules (a test holds them together).
var valueRules = map[string]func(allowed, got string) bool{
	// got is cleaned by the rule; the listed path is cleaned the same way.
	policy.NoHostPathID: func(allowed, got string) bool { return policy.CleanHostPath(allowed) == got },
	// Capabilities as the runtime reads them: case and a CAP_ prefix aside.
	policy.DropAllCapabilitiesID: func(allowed, got string) bool { return capability(allowed) == capability(got) },
	// got is normalized; the listed reference is a pattern as match.images.
	policy.AllowedRegistriesID: ImageMatches,
	policy.NoHostPortsID:       func(allowed, got string) bool { return allowed == got },
}

// ValueRules are the IDs of the rules an exception can waive value by
// value, sorted.
func ValueRules() []string {
	out := make([]string, 0, len(valueRules))
	for id := range valueRules {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func capability(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	return strings.TrimPrefix(c, "CAP_")
}

// requested reports whether req satisfies rb: no rb trusts every request;
// no request (offline) satisfies no rb.
func requested(rb *v1alpha1.RequestedBy, req *Requester) bool {
	if rb == nil {
		return true
	}
	if req == nil || req.User == "" {
		return false
	}
	if slices.Contains(rb.Users, req.User) {
		return true
	}
	if slices.ContainsFunc(req.Groups, func(g string) bool { return slices.Contains(rb.Groups, g) }) {
		return true
	}
	if ns, name, ok := serviceAccountOf(req.User); ok {
		return slices.Contains(rb.ServiceAccounts, ns+"/"+name)
	}
	return false
}

// serviceAccountOf splits system:serviceaccount:<namespace>:<name>.
func serviceAccountOf(user string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	return ns, name, ok && ns != "" && name != "" && !strings.Contains(name, ":")
}

func describeTrusted(rb *v1alpha1.RequestedBy) string {
	var parts []string
	if len(rb.Users) > 0 {
		parts = append(parts, "users "+strings.Join(rb.Users, ", "))
	}
	if len(rb.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(rb.Groups, ", "))
	}
	if len(rb.ServiceAccounts) > 0 {
		parts = append(parts, "service accounts "+strings.Join(rb.ServiceAccounts, ", "))
	}
	return strings.Join(parts, "; ")
}

// IsExpired reports whether e has expired at now.
func IsExpired(e *v1alpha1.PolicyException, now time.Time) bool {
	return e.Spec.Expires != nil && !now.Before(e.Spec.Expires.Time)
}

func matchesLabels(m *v1alpha1.Match, labels map[string]string) bool {
	return matchValue(m.KestraNamespace, labels, NamespaceLabel, true) &&
		matchValue(m.FlowID, labels, FlowLabel, false) &&
		matchValue(m.TaskID, labels, TaskLabel, false)
}

// matchValue compares the label with m; a nil m matches anything, a missing
// label matches nothing. hierarchical prefixes match at a "." boundary.
func matchValue(m *v1alpha1.StringMatch, labels map[string]string, key string, hierarchical bool) bool {
	if m == nil {
		return true
	}
	got, ok := labels[key]
	if !ok {
		return false
	}
	switch {
	case m.Exact != "":
		return got == LabelValue(m.Exact)
	case m.Prefix != "":
		if !hierarchical {
			p := m.Prefix
			if len(p) > 63 {
				p = LabelValue(p)
			}
			return strings.HasPrefix(got, p)
		}
		return got == LabelValue(m.Prefix) || strings.HasPrefix(got, m.Prefix+".")
	}
	return false // neither set: the CRD refuses it; fail closed
}

// LabelValue is v as Kestra writes it in a label: at most 63 characters,
// trailing "-", "." and "_" removed.
func LabelValue(v string) string {
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.TrimRight(v, "-._")
}

// imagesCover reports whether the images a violation at field concerns all
// match one of patterns: the container's (or image volume's) own image, or
// for a Pod-level field every container's and image volume's. No patterns:
// every image.
func imagesCover(patterns []string, pod *corev1.Pod, field string) bool {
	if len(patterns) == 0 {
		return true
	}
	if img, ok := containerImage(&pod.Spec, field); ok {
		return imageMatches(patterns, img)
	}
	all := true
	visit(&pod.Spec, func(img string) {
		all = all && imageMatches(patterns, img)
	})
	return all
}

func visit(spec *corev1.PodSpec, fn func(image string)) {
	for i := range spec.InitContainers {
		fn(spec.InitContainers[i].Image)
	}
	for i := range spec.Containers {
		fn(spec.Containers[i].Image)
	}
	for i := range spec.EphemeralContainers {
		fn(spec.EphemeralContainers[i].Image)
	}
	for i := range spec.Volumes {
		if v := spec.Volumes[i].Image; v != nil {
			fn(v.Reference)
		}
	}
}

// containerImage returns the image of the container field lies in, such as
// spec.containers[1].securityContext, or the reference of the image volume
// (spec.volumes[0].image.reference); ok is false for a Pod-level field.
func containerImage(spec *corev1.PodSpec, field string) (string, bool) {
	rest, ok := strings.CutPrefix(field, "spec.")
	if !ok {
		return "", false
	}
	list, rest, ok := strings.Cut(rest, "[")
	if !ok {
		return "", false
	}
	idx, _, ok := strings.Cut(rest, "]")
	if !ok {
		return "", false
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 {
		return "", false
	}
	switch list {
	case "initContainers":
		if i < len(spec.InitContainers) {
			return spec.InitContainers[i].Image, true
		}
	case "containers":
		if i < len(spec.Containers) {
			return spec.Containers[i].Image, true
		}
	case "ephemeralContainers":
		if i < len(spec.EphemeralContainers) {
			return spec.EphemeralContainers[i].Image, true
		}
	case "volumes":
		// An image volume is an image: its own reference must match. Any
		// other volume is Pod-level.
		if i < len(spec.Volumes) && spec.Volumes[i].Image != nil {
			return spec.Volumes[i].Image.Reference, true
		}
		return "", false
	default:
		return "", false
	}
	// A container path out of range: treat it as Pod-level (every image).
	return "", false
}

func imageMatches(patterns []string, image string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return ImageMatches(p, image) })
}

// ImageMatches compares an image with a pattern after normalizing both:
// a pattern ending in "*" is a prefix; one without tag or digest matches
// every tag and digest of its repository; otherwise the tag (latest when
// absent) or the digest must be equal.
func ImageMatches(pattern, image string) bool {
	if pattern == "" || image == "" {
		return false
	}
	img := policy.NormalizeImage(image)
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return p != "" && strings.HasPrefix(img, policy.NormalizeImage(p))
	}
	pRepo, pTag, pDigest := splitImage(policy.NormalizeImage(pattern))
	iRepo, iTag, iDigest := splitImage(img)
	switch {
	case pRepo != iRepo:
		return false
	case pDigest != "":
		return pDigest == iDigest
	case pTag != "":
		if iTag == "" && iDigest == "" {
			iTag = "latest"
		}
		return pTag == iTag
	}
	return true
}

// splitImage splits a normalized reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	ref, digest, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:], digest
	}
	return ref, "", digest
}
