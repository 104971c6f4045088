package framework

import (
	"context"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/kestra-guard/kestra-guard/internal/chart"
)

// InTreeObjects renders the chart with values and returns its
// ValidatingAdmissionPolicies and their bindings (and, when the chart has
// them, the mutating ones), policies first.
func InTreeObjects(values map[string]any) ([]*unstructured.Unstructured, error) {
	objs, err := chart.Render("kestra-guard", GuardNamespace, values)
	if err != nil {
		return nil, err
	}
	var policies, bindings []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingAdmissionPolicy", "MutatingAdmissionPolicy":
			policies = append(policies, o)
		case "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicyBinding":
			bindings = append(bindings, o)
		}
	}
	return append(policies, bindings...), nil
}

// InstallInTree applies the chart's in-tree policies and bindings (rendered
// with values) and waits until the API server has type-checked every
// ValidatingAdmissionPolicy: it returns an error naming each expression the
// type check warns about. The API server refuses an expression that does
// not compile when it is applied.
func (cp *ControlPlane) InstallInTree(ctx context.Context, values map[string]any) ([]*unstructured.Unstructured, error) {
	objs, err := InTreeObjects(values)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := Apply(ctx, cp.Client, o.DeepCopy()); err != nil {
			return nil, fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	// The API server's status controller (in kube-controller-manager, which
	// does not run here) type-checks with this checker and the served
	// OpenAPI schemas; run it here the same way.
	checker := validating.TypeChecker{
		SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: cp.Clientset.Discovery()},
		RestMapper:     restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cp.Clientset.Discovery())),
	}
	var errs []error
	for _, o := range objs {
		if o.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
		var p admissionregistrationv1.ValidatingAdmissionPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &p); err != nil {
			return nil, fmt.Errorf("ValidatingAdmissionPolicy %s: %w", o.GetName(), err)
		}
		for _, w := range checker.Check(&p) {
			errs = append(errs, fmt.Errorf("ValidatingAdmissionPolicy %s: %s: %s", p.Name, w.FieldRef, strings.TrimSpace(w.Warning)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return objs, nil
}
