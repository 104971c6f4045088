package intree

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// The in-tree policies' CEL as kube-apiserver compiles and runs it: the
// API server's own compiler, cost tracking and JSON patcher (its
// admission/plugin/policy packages, as compilePolicy in mutating and
// validating builds them), on the passing task runner kube-apiserver sent
// (internal/webhook/testdata/reviews), with the policies make bench
// installs.

var ruleOf = regexp.MustCompile(`kestra-guard: ([a-z-]+):`)

var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

// reviewPod reads the Pod of a captured AdmissionReview.
func reviewPod(tb testing.TB, name string) *corev1.Pod {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "internal", "webhook", "testdata", "reviews", name))
	if err != nil {
		tb.Fatal(err)
	}
	var r struct {
		Request struct {
			Object corev1.Pod `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return &r.Request.Object
}

// benchPolicies renders the chart's in-tree policies as make bench
// installs them (hack/bench: admission.mode both, the start gate off).
func benchPolicies(tb testing.TB) (map[string]*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicy) {
	tb.Helper()
	return renderPolicies(tb, map[string]any{"admission": map[string]any{"mode": "both"},
		"audit": map[string]any{"enabled": false}, "startGate": map[string]any{"enabled": false}})
}

// renderPolicies renders the chart's in-tree policies with values.
func renderPolicies(tb testing.TB, values map[string]any) (map[string]*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicy) {
	tb.Helper()
	objs, err := framework.InTreeObjects(values)
	if err != nil {
		tb.Fatal(err)
	}
	vaps := map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	var mut *admissionregistrationv1.MutatingAdmissionPolicy
	for _, o := range objs {
		var into any
		switch o.GetKind() {
		case "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			vaps[o.GetName()], into = p, p
		case "MutatingAdmissionPolicy":
			mut = &admissionregistrationv1.MutatingAdmissionPolicy{}
			into = mut
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
			tb.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	return vaps, mut
}

func attributes(pod *corev1.Pod) *admission.VersionedAttributes {
	a := admission.NewAttributesRecord(pod, nil, podGVK, pod.Namespace, pod.Name, corev1.SchemeGroupVersion.WithResource("pods"),
		"", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "system:serviceaccount:kestra:kestra"})
	return &admission.VersionedAttributes{Attributes: a, VersionedKind: podGVK, VersionedObject: admission.NewLazyObject(pod)}
}

func variables(vs []admissionregistrationv1.Variable) []plugincel.NamedExpressionAccessor {
	out := make([]plugincel.NamedExpressionAccessor, len(vs))
	for i, v := range vs {
		out[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	return out
}

// matcher compiles conditions with a policy's variables as the API server
// does; the returned function evaluates them once and reports whether all
// hold.
func matcher(tb testing.TB, vars []admissionregistrationv1.Variable, hasParams bool, conds []admissionregistrationv1.MatchCondition) func(*admission.VersionedAttributes) bool {
	tb.Helper()
	match := conditions(tb, vars, hasParams, conds)
	return func(va *admission.VersionedAttributes) bool {
		ok, err := match(va)
		if err != nil {
			tb.Fatal(err)
		}
		return ok
	}
}

// conditions is matcher that returns an evaluation's error instead of
// failing on it.
func conditions(tb testing.TB, vars []admissionregistrationv1.Variable, hasParams bool, conds []admissionregistrationv1.MatchCondition) func(*admission.VersionedAttributes) (bool, error) {
	tb.Helper()
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		tb.Fatal(err)
	}
	opts := plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}
	compiler.CompileAndStoreVariables(variables(vars), opts, environment.StoredExpressions)
	accs := make([]plugincel.ExpressionAccessor, len(conds))
	for i := range conds {
		accs[i] = (*matchconditions.MatchCondition)(&conds[i])
	}
	cond := compiler.CompileCondition(accs, opts, environment.StoredExpressions)
	if errs := cond.CompilationErrors(); len(errs) > 0 {
		tb.Fatal(errors.Join(errs...))
	}
	fail := admissionregistrationv1.Fail
	m := matchconditions.NewMatcher(cond, &fail, "policy", "validate", "bench")
	return func(va *admission.VersionedAttributes) (bool, error) {
		r := m.Match(compiler.CreateContext(context.Background()), va, nil, nil)
		return r.Matches, r.Error
	}
}

// mutator compiles a MutatingAdmissionPolicy's JSON patch as the API server
// does and returns a function that applies it once, and one that evaluates
// its CEL alone.
func mutator(tb testing.TB, p *admissionregistrationv1.MutatingAdmissionPolicy) (apply, eval func(*admission.VersionedAttributes)) {
	tb.Helper()
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		tb.Fatal(err)
	}
	opts := plugincel.OptionalVariableDeclarations{HasAuthorizer: true, HasPatchTypes: true}
	compiler.CompileAndStoreVariables(variables(p.Spec.Variables), opts, environment.StoredExpressions)
	if len(p.Spec.Mutations) != 1 || p.Spec.Mutations[0].JSONPatch == nil {
		tb.Fatalf("%s: want one JSON patch mutation", p.Name)
	}
	ev := compiler.CompileMutatingEvaluator(&patch.JSONPatchCondition{Expression: p.Spec.Mutations[0].JSONPatch.Expression}, opts, environment.StoredExpressions)
	if errs := ev.CompilationErrors(); len(errs) > 0 {
		tb.Fatal(errors.Join(errs...))
	}
	patcher := patch.NewJSONPatcher(ev)
	oi := admission.NewObjectInterfacesFromScheme(scheme.Scheme)
	eval = func(va *admission.VersionedAttributes) {
		r, _, err := ev.ForInput(compiler.CreateContext(context.Background()), va, &admissionv1.AdmissionRequest{}, plugincel.OptionalVariableBindings{},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: va.GetNamespace()}}, celconfig.RuntimeCELCostBudget)
		if err == nil {
			err = r.Error
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return func(va *admission.VersionedAttributes) {
		_, err := patcher.Patch(compiler.CreateContext(context.Background()), patch.Request{
			MatchedResource:     corev1.SchemeGroupVersion.WithResource("pods"),
			VersionedAttributes: va,
			ObjectInterfaces:    oi,
			Namespace:           &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: va.GetNamespace()}},
		}, celconfig.RuntimeCELCostBudget)
		if err != nil {
			tb.Fatal(err)
		}
	}, eval
}

// BenchmarkInTreeCEL: each generated policy's work for the passing task
// runner, as the API server does it: the validating policies' match
// conditions (all a passing Pod costs them), the mutation's patch (mutate:
// its CEL, then the API server's encode, patch and decode of the Pod;
// mutate-cel: the CEL alone, with the API server's conversion of the whole
// Pod to unstructured that its mutating evaluator makes first), and the
// deny policy's validations one by one, each with its policy's variables
// (-bench 'InTreeCEL/deny-validation'). No target: make bench section 3
// measures what the API server does with them; this says where it goes.
func BenchmarkInTreeCEL(b *testing.B) {
	vaps, mut := benchPolicies(b)
	pod := reviewPod(b, "validate-passing-create.json")
	passing := attributes(pod)
	for _, name := range []string{"kestra-guard-deny", "kestra-guard-warn"} {
		p := vaps[name]
		if p == nil {
			b.Fatalf("the chart renders no %s", name)
		}
		match := matcher(b, p.Spec.Variables, p.Spec.ParamKind != nil, p.Spec.MatchConditions)
		if match(passing) {
			b.Fatalf("%s: its match conditions hold for the passing task runner", name)
		}
		b.Run(name+"-match", func(b *testing.B) {
			for b.Loop() {
				match(attributes(pod))
			}
		})
	}
	mutate, mutateCEL := mutator(b, mut)
	unpatched := reviewPod(b, "mutate-passing-create.json")
	b.Run("mutate", func(b *testing.B) {
		for b.Loop() {
			mutate(attributes(unpatched.DeepCopy()))
		}
	})
	b.Run("mutate-cel", func(b *testing.B) {
		for b.Loop() {
			mutateCEL(attributes(unpatched.DeepCopy()))
		}
	})
	deny := vaps["kestra-guard-deny"]
	for i, v := range deny.Spec.Validations {
		match := matcher(b, deny.Spec.Variables, false, []admissionregistrationv1.MatchCondition{{Name: "v", Expression: v.Expression}})
		if !match(passing) {
			b.Fatalf("validation %d fails the passing task runner: %s", i, v.Expression)
		}
		rule := ruleOf.FindStringSubmatch(v.Message + v.MessageExpression)
		if rule == nil {
			b.Fatalf("validation %d names no rule: %q %q", i, v.Message, v.MessageExpression)
		}
		b.Run(fmt.Sprintf("deny-validation-%02d-%s", i, rule[1]), func(b *testing.B) {
			for b.Loop() {
				match(passing)
			}
		})
	}
}
