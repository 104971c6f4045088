// Package v1alpha1 holds kestra-guard's API types: PolicyException, the
// resource that waives named rules for the task-runner Pods it matches.
//
// The deepcopy functions and the CRD are generated with controller-gen
// (make generate); a test regenerates them and fails on drift.
//
// +kubebuilder:object:generate=true
// +groupName=kestra-guard.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is kestra-guard.io/v1alpha1.
	GroupVersion = schema.GroupVersion{Group: "kestra-guard.io", Version: "v1alpha1"}
	// SchemeBuilder registers the types of this package.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &PolicyException{}, &PolicyExceptionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
