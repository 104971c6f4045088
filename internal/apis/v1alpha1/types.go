package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyException waives named kestra-guard rules for the task-runner Pods
// of its namespace that it matches. It is a security bypass: who may create
// one is decided by RBAC, and kestra-guard's chart grants it to nobody.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=kgpex,categories=kestra-guard
// +kubebuilder:printcolumn:name="Waive",type=string,JSONPath=`.spec.waive[*].rule`
// +kubebuilder:printcolumn:name="Rules",type=string,JSONPath=`.spec.rules`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner`
// +kubebuilder:printcolumn:name="Expires",type=string,format=date-time,JSONPath=`.spec.expires`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PolicyException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PolicyExceptionSpec `json:"spec"`
}

// PolicyExceptionSpec says which Pods and which rules an exception covers,
// why, for whom and until when.
// +kubebuilder:validation:XValidation:rule="has(self.waive) || has(self.rules)",message="name the rules waived in spec.waive (or spec.rules)"
// +kubebuilder:validation:XValidation:rule="!has(self.waive) || !has(self.rules) || self.waive.all(w, !(w.rule in self.rules))",message="a rule is in spec.waive or in spec.rules, not both"
type PolicyExceptionSpec struct {
	// Waive lists the rules waived, each for the values it names or, with
	// no values, for everything the rule finds. Only deny and warn
	// violations of these rules are waived; every other rule still applies.
	// +optional
	// +listType=map
	// +listMapKey=rule
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Waive []RuleWaiver `json:"waive,omitempty"`

	// Rules are the IDs of rules waived whole: every violation of the rule
	// on the Pods matched, whatever its value (the same as a waive entry
	// without values). Prefer waive with values.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Rules []RuleID `json:"rules,omitempty"`

	// Match narrows the Pods of the namespace the exception covers. Every
	// field given must match; an empty match covers every task-runner Pod
	// of the namespace.
	// +optional
	Match Match `json:"match,omitempty"`

	// Reason says why the waiver is needed; it is shown in every warning.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// Owner is who answers for the exception (a team, a person, a ticket).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Owner string `json:"owner,omitempty"`

	// Expires is when the exception stops applying (RFC 3339, as
	// 2030-01-01T00:00:00Z: upper-case T and Z, which is what kestra-guard
	// can read). An expired exception waives nothing; the Pods it matched
	// are denied again with a message that names it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Expires *metav1.Time `json:"expires,omitempty"`
}

// RuleWaiver waives one rule: only its violations whose value is in
// values or, without values, every violation of the rule.
// +kubebuilder:validation:XValidation:rule="!has(self.values) || self.rule in ['no-host-path', 'drop-all-capabilities', 'allowed-registries', 'no-host-ports']",message="values can be named for no-host-path, drop-all-capabilities, allowed-registries and no-host-ports only; list the rule without values to waive all of it"
type RuleWaiver struct {
	// Rule is the ID of the rule (see `kestra-guard rules`).
	// +required
	Rule RuleID `json:"rule"`

	// Values are the values waived: host paths for no-host-path (compared
	// after cleaning), capabilities for drop-all-capabilities (an added
	// capability; a container that does not drop ALL is not waived by
	// value), image references for allowed-registries (compared as
	// match.images does), host ports for no-host-ports. A violation with
	// another value, or with none, is not waived.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=4096
	Values []string `json:"values,omitempty"`
}

// Match selects Pods by the labels Kestra puts on its task runners, by
// their images and by who asked for them. Labels are written by whoever
// creates the Pod and prove nothing; requestedBy is the admission
// request's authenticated user.
// +kubebuilder:validation:XValidation:rule="!has(self.images) || size(self.images) > 0",message="images, when given, must list at least one image"
type Match struct {
	// RequestedBy limits the exception to Pods whose admission request
	// comes from one of these identities (any one suffices). The request's
	// user is authenticated by the API server: a flow cannot forge it,
	// only use the credentials it is given. Offline (check) and in the
	// background audit there is no request: an exception with requestedBy
	// waives nothing there, and says so.
	// +optional
	RequestedBy *RequestedBy `json:"requestedBy,omitempty"`

	// KestraNamespace matches the kestra.io/namespace label. A prefix
	// matches the Kestra namespace itself and its children: prefix
	// "company.team" matches "company.team" and "company.team.etl", not
	// "company.teams".
	// +optional
	KestraNamespace *StringMatch `json:"kestraNamespace,omitempty"`

	// FlowID matches the kestra.io/flow-id label; a prefix is a plain
	// string prefix.
	// +optional
	FlowID *StringMatch `json:"flowId,omitempty"`

	// TaskID matches the kestra.io/task-id label; a prefix is a plain
	// string prefix.
	// +optional
	TaskID *StringMatch `json:"taskId,omitempty"`

	// Images limits the waiver to containers running these images,
	// compared after normalization (busybox is docker.io/library/busybox).
	// A reference without tag or digest matches every tag and digest of
	// the repository; one ending in "*" is a prefix. A violation on a
	// container is waived when that container's image matches, one on an
	// image volume when the volume's reference matches; a violation on the
	// Pod itself (host network, another volume) only when every container's
	// image and every image volume's reference matches.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Images []string `json:"images,omitempty"`
}

// RequestedBy names the identities whose requests an exception trusts.
// +kubebuilder:validation:XValidation:rule="has(self.users) || has(self.groups) || has(self.serviceAccounts)",message="name at least one user, group or service account"
type RequestedBy struct {
	// Users are user names, exactly as authenticated.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Users []string `json:"users,omitempty"`

	// Groups are group names. Groups every authenticated identity or every
	// service account is in are refused: they would trust anyone.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="!self.exists(g, g in ['system:authenticated', 'system:unauthenticated', 'system:serviceaccounts'] || g.startsWith('system:serviceaccounts:'))",message="a group every identity (or every service account) is in trusts anyone; name users or serviceAccounts"
	Groups []string `json:"groups,omitempty"`

	// ServiceAccounts are namespace/name: the request's user must be
	// system:serviceaccount:<namespace>:<name>.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:items:MaxLength=317
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// StringMatch compares a label value with exactly one of exact or prefix.
// Values longer than 63 characters are compared as Kestra writes them in
// labels: cut to 63 characters, trailing "-", "." and "_" removed.
// +kubebuilder:validation:XValidation:rule="has(self.exact) != has(self.prefix)",message="set exactly one of exact or prefix"
type StringMatch struct {
	// Exact is the whole value.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Exact string `json:"exact,omitempty"`
	// Prefix is the start of the value.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Prefix string `json:"prefix,omitempty"`
}

// PolicyExceptionList is a list of PolicyExceptions.
// +kubebuilder:object:root=true
type PolicyExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicyException `json:"items"`
}
