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
	Violations []policy.Violation
	Waived     []Waiver
	Expired    []Expired
}

// Apply returns the violations of pod that no exception in excs waives.
// Only exceptions of the Pod's namespace count; an exception past its
// expiry waives nothing and is reported in Expired when it matched. The
// first exception (by namespace/name) that waives a violation is the one
// named.
func Apply(excs []v1alpha1.PolicyException, pod *corev1.Pod, vs []policy.Violation, now time.Time) Outcome {
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
	for _, v := range vs {
		var by *v1alpha1.PolicyException
		var lapsed []*v1alpha1.PolicyException
		for _, e := range order {
			if !slices.Contains(e.Spec.Rules, v1alpha1.RuleID(v.Rule)) || !imagesCover(e.Spec.Match.Images, pod, v.Field) {
				continue
			}
			if IsExpired(e, now) {
				lapsed = append(lapsed, e)
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
		// Only an expiry that changes the outcome is reported.
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
	}
	for _, e := range order {
		if x := expired[e]; x != nil {
			out.Expired = append(out.Expired, *x)
		}
	}
	return out
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

// imagesCover reports whether the images of the containers a violation at
// field concerns all match one of patterns. No patterns: every image.
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
}

// containerImage returns the image of the container field lies in, such as
// spec.containers[1].securityContext; ok is false for a Pod-level field.
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
