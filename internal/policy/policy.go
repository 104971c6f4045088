// Package policy holds kestra-guard's rules: pure functions over a Pod (and,
// for the egress rule, the NetworkPolicies of its namespace) that return
// violations. The webhook, the audit and the offline commands all decide
// through Engine.Evaluate, so a decision previewed offline is the one the
// cluster makes.
package policy

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Action is what a rule's violation does to a Pod.
type Action string

const (
	Deny Action = "deny"
	Warn Action = "warn"
	Off  Action = "off"
)

// Violation is one broken rule, at one field.
type Violation struct {
	Rule   string `json:"rule"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	Action Action `json:"action"`
	// Value is the offending value itself, for the rules a PolicyException
	// can waive value by value (the cleaned host path, the added
	// capability, the normalized image, the host port); "" for the others
	// and for violations that are the absence of a setting.
	Value string `json:"value,omitempty"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s: %s (%s)", v.Rule, v.Field, v.Reason, v.Detail)
}

// Input is what a rule may read. NetworkPolicies are those of the Pod's
// namespace; when NetworkPoliciesKnown is false the egress rule is not
// evaluated and says so in Result.Notes.
type Input struct {
	Pod                  *corev1.Pod
	NetworkPolicies      []networkingv1.NetworkPolicy
	NetworkPoliciesKnown bool
	// NetworkPoliciesServed says the policies were read from the API
	// server, where a UID and a resourceVersion always name the same
	// content, so that the engine may reuse its analysis of a policy
	// version. Never set it for manifests: two files may carry the same
	// UID and resourceVersion with different rules.
	NetworkPoliciesServed bool
	// Fragment marks a partial Pod (a Kestra flow's pod overlay): rules
	// report explicit dangerous values only, not what mutation fills in.
	Fragment bool
}

// Rule is one check. Check returns nil when the Pod passes.
type Rule struct {
	// ID is stable: configuration, PolicyExceptions and reports name it.
	ID string
	// Since is the rule-set version that added the rule, and Changes the
	// later changes of its meaning, oldest first (versions.go; CHANGELOG.md
	// says the same, checked by hack/changelog).
	Since   string
	Changes []Change
	// Summary says in one line what the rule forbids (`kestra-guard rules`).
	Summary string
	// Doc is the rule's row in the README's rule table, which make
	// generate writes from Rules.
	Doc     RuleDoc
	Default Action
	// FlowFields are the fields the rule reads that a Kestra flow writes
	// into a Pod (or a NetworkPolicy a kubectl task applies), by their JSON
	// name ("hostNetwork"): a value of one of them that cannot be checked
	// statically (a template Kestra renders at run time, a value of the
	// wrong type) is reported under this rule, with its action
	// (internal/kestra). A field is declared by one rule at most; a value
	// of a field no rule declares is a static-check denial.
	FlowFields []string
	Check      func(in *Input, o *Options) []Violation
	// InTree is the rule as CEL for the API server's own admission (see
	// intree.go); nil when only the webhook can decide it.
	InTree *InTree
}

// RuleDoc documents a rule in Markdown, one line per field.
type RuleDoc struct {
	// Forbids says exactly what fails the rule.
	Forbids string
	// Threat says what an attacker gains from it.
	Threat string
	// Fix says how to pass, and what mutation does.
	Fix string
}

// Rules lists every rule, in the order results are reported.
var Rules = []Rule{
	runAsNonRoot,
	readOnlyRootFilesystem,
	noHostPath,
	noHostNetwork,
	metadataEgressBlocked,
	startGate,
	noHostNamespaces,
	noPrivileged,
	noPrivilegeEscalation,
	dropAllCapabilities,
	seccompProfile,
	noHostPorts,
	noHostProbes,
	noUnsafeSELinux,
	noUnmaskedProc,
	noUnsafeSysctls,
	noUnconfinedAppArmor,
	noHostProcess,
	restrictedVolumeTypes,
	noServiceAccountToken,
	noCloudIdentity,
	noMetadataAddress,
	allowedRegistries,
}

// RuleByID returns the rule with that ID.
func RuleByID(id string) (Rule, bool) {
	i := slices.IndexFunc(Rules, func(r Rule) bool { return r.ID == id })
	if i < 0 {
		return Rule{}, false
	}
	return Rules[i], true
}

// Result is the outcome of evaluating one Pod. Violations is nil for a Pod
// that passes.
type Result struct {
	Violations []Violation `json:"violations"`
	// Notes are facts about the evaluation itself, such as a rule that
	// could not be evaluated for lack of cluster state.
	Notes []string `json:"notes,omitempty"`
}

// Denied reports whether any violation carries the deny action.
func (r Result) Denied() bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Action == Deny })
}

type boundRule struct {
	Rule
	action Action
}

// Engine evaluates Pods with the rules and options of one Config. Build it
// once; it is safe for concurrent use.
type Engine struct {
	rules []boundRule
	opts  *Options
	// version is the rule set the rules are taken at (versions.go), and
	// set the engines of the other versions, sharing opts.
	version string
	set     engines
}

// NewEngine compiles cfg. It returns every configuration error at once. The
// engine judges by cfg.RuleSetVersion (latest when empty); At gives the
// engine of another version, built here too.
func NewEngine(cfg Config) (*Engine, error) {
	opts, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	v := cfg.RuleSetVersion
	if v == "" {
		v = Latest
	}
	return newEngines(cfg, opts)[v], nil
}

// Options returns the compiled options the engine's rules read.
func (e *Engine) Options() *Options { return e.opts }

// Evaluate runs every rule that is not off. It never panics on a nil Pod:
// a missing Pod is reported as a violation of its own.
func (e *Engine) Evaluate(in *Input) Result {
	var res Result
	if in == nil || in.Pod == nil {
		res.Violations = []Violation{{Rule: "invalid-object", Field: "object", Reason: "no Pod to evaluate",
			Detail: "expected a Pod object, found none", Action: Deny}}
		return res
	}
	for i := range e.rules {
		r := &e.rules[i]
		if r.ID == metadataEgressBlocked.ID && !in.NetworkPoliciesKnown {
			res.Notes = append(res.Notes, metadataEgressBlocked.ID+": not evaluated: no NetworkPolicy of the Pod's namespace was given")
			continue
		}
		for _, v := range r.Check(in, e.opts) {
			v.Rule, v.Action = r.ID, r.action
			res.Violations = append(res.Violations, v)
		}
	}
	return res
}

// Action returns the action configured for a rule: Off when it is off or unknown.
func (e *Engine) Action(id string) Action {
	for _, r := range e.rules {
		if r.ID == id {
			return r.action
		}
	}
	return Off
}
