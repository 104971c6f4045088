package exception

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// Unreadable is an exception kestra-guard could not read, or read and found
// invalid: it waives nothing, and the others still apply.
type Unreadable struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Err       string `json:"error"`
}

// String is namespace/name.
func (u Unreadable) String() string { return u.Namespace + "/" + u.Name }

// Message says that the exception waives nothing, and why.
func (u Unreadable) Message() string {
	return "PolicyException " + u.String() + " cannot be read and waives nothing: " + u.Err
}

// FromList converts the exceptions read without a type (an unstructured
// informer or list, which never fails on one bad object) and sets aside,
// named, each one that cannot be read or breaks a rule the CRD states:
// one bad exception never stops the others.
func FromList(items []unstructured.Unstructured) (good []v1alpha1.PolicyException, bad []Unreadable) {
	for i := range items {
		e, err := FromUnstructured(items[i].Object)
		if err != nil {
			bad = append(bad, Unreadable{Namespace: items[i].GetNamespace(), Name: items[i].GetName(), Err: err.Error()})
			continue
		}
		good = append(good, *e)
	}
	return good, bad
}

// FromUnstructured reads one exception from its JSON object and checks it
// (Validate).
func FromUnstructured(obj map[string]any) (*v1alpha1.PolicyException, error) {
	// Named first: the converter's own error does not say which field.
	if spec, ok := obj["spec"].(map[string]any); ok {
		if err := CheckExpires(spec["expires"]); err != nil {
			return nil, err
		}
	}
	e := &v1alpha1.PolicyException{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, e); err != nil {
		return nil, fmt.Errorf("expected a kestra-guard.io/v1alpha1 PolicyException: %w", err)
	}
	if err := Validate(e); err != nil {
		return nil, err
	}
	return e, nil
}

// expiresPattern is the CRD's pattern for spec.expires: what
// metav1.Time (time.RFC3339) reads.
var expiresPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

// CheckExpires checks a spec.expires value as found in JSON (nil when
// absent): an RFC 3339 time with upper-case T and Z.
func CheckExpires(v any) error {
	if v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("spec.expires: %v: expected an RFC 3339 time such as 2030-01-01T00:00:00Z", v)
	}
	if !expiresPattern.MatchString(s) {
		return fmt.Errorf("spec.expires: %q: expected an RFC 3339 time such as 2030-01-01T00:00:00Z (upper-case T and Z)", s)
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("spec.expires: %q: %w", s, err)
	}
	return nil
}

// broadGroups are groups that every identity, or every service account, is
// in: trusting them trusts anyone.
func broadGroup(g string) bool {
	switch g {
	case "system:authenticated", "system:unauthenticated", "system:serviceaccounts":
		return true
	}
	return strings.HasPrefix(g, "system:serviceaccounts:")
}

var serviceAccountPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Validate checks what the CRD's schema states and the matching relies on,
// returning every error with its field path. The API server enforces the
// same on create and update; kestra-guard checks again what it reads, for
// objects stored under an older CRD and for files given to check.
func Validate(e *v1alpha1.PolicyException) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	s := &e.Spec
	if s.Reason == "" {
		add("spec.reason: required")
	}
	if len(s.Rules) == 0 && len(s.Waive) == 0 {
		add("spec.waive: name the rules waived in spec.waive (or spec.rules)")
	}
	known := func(r v1alpha1.RuleID) bool { _, ok := policy.RuleByID(string(r)); return ok }
	for i, r := range s.Rules {
		if !known(r) {
			add("spec.rules[%d]: %q: expected a rule ID", i, r)
		}
	}
	for i, w := range s.Waive {
		switch {
		case !known(w.Rule):
			add("spec.waive[%d].rule: %q: expected a rule ID", i, w.Rule)
		case slices.Contains(s.Rules, w.Rule):
			add("spec.waive[%d].rule: %q is in spec.rules too: a rule is in one or the other", i, w.Rule)
		case slices.ContainsFunc(s.Waive[:i], func(o v1alpha1.RuleWaiver) bool { return o.Rule == w.Rule }):
			add("spec.waive[%d].rule: %q is listed twice", i, w.Rule)
		}
		if w.Values == nil {
			continue
		}
		if _, ok := valueRules[string(w.Rule)]; !ok {
			add("spec.waive[%d].values: %s violations carry no value; values can be named for %s only (list the rule without values to waive all of it)",
				i, w.Rule, strings.Join(ValueRules(), ", "))
		}
		if len(w.Values) == 0 {
			add("spec.waive[%d].values: expected at least one value (omit values to waive the whole rule)", i)
		}
		for j, v := range w.Values {
			if v == "" {
				add("spec.waive[%d].values[%d]: expected a value, found an empty string", i, j)
			}
		}
	}
	m := &s.Match
	for _, f := range []struct {
		field string
		m     *v1alpha1.StringMatch
	}{{"kestraNamespace", m.KestraNamespace}, {"flowId", m.FlowID}, {"taskId", m.TaskID}} {
		if f.m != nil && (f.m.Exact == "") == (f.m.Prefix == "") {
			add("spec.match.%s: set exactly one of exact or prefix", f.field)
		}
	}
	if m.Images != nil && len(m.Images) == 0 {
		add("spec.match.images: images, when given, must list at least one image")
	}
	for i, img := range m.Images {
		if img == "" {
			add("spec.match.images[%d]: expected an image, found an empty string", i)
		}
	}
	if rb := m.RequestedBy; rb != nil {
		if len(rb.Users)+len(rb.Groups)+len(rb.ServiceAccounts) == 0 {
			add("spec.match.requestedBy: name at least one user, group or service account")
		}
		for i, u := range rb.Users {
			if u == "" {
				add("spec.match.requestedBy.users[%d]: expected a user name, found an empty string", i)
			}
		}
		for i, g := range rb.Groups {
			if g == "" || broadGroup(g) {
				add("spec.match.requestedBy.groups[%d]: %q: a group every identity (or every service account) is in trusts anyone; name users or serviceAccounts", i, g)
			}
		}
		for i, sa := range rb.ServiceAccounts {
			if !serviceAccountPattern.MatchString(sa) {
				add("spec.match.requestedBy.serviceAccounts[%d]: %q: expected namespace/name", i, sa)
			}
		}
	}
	if errs != nil {
		return errors.Join(errs...)
	}
	return nil
}
