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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is kestra-guard.io/v1alpha1.
	GroupVersion = schema.GroupVersion{Group: "kestra-guard.io", Version: "v1alpha1"}
	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() { SchemeBuilder.Register(&PolicyException{}, &PolicyExceptionList{}) }
