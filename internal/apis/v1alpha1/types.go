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
type PolicyExceptionSpec struct {
	// Rules are the IDs of the rules waived (see `kestra-guard rules`).
	// Only deny and warn violations of these rules are waived; every other
	// rule still applies.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Rules []RuleID `json:"rules"`

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

	// Expires is when the exception stops applying (RFC 3339). An expired
	// exception waives nothing; the Pods it matched are denied again with a
	// message that names it.
	// +optional
	Expires *metav1.Time `json:"expires,omitempty"`
}

// Match selects Pods by the labels Kestra puts on its task runners and by
// their images.
// +kubebuilder:validation:XValidation:rule="!has(self.images) || size(self.images) > 0",message="images, when given, must list at least one image"
type Match struct {
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
	// container is waived when that container's image matches; a violation
	// on the Pod itself (host network, a volume) only when every
	// container's image matches.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Images []string `json:"images,omitempty"`
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
