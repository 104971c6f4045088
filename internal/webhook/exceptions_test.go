package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// listReader serves a fixed list of exceptions, as the unstructured
// informer would, and counts the calls.
type listReader struct {
	client.Reader
	items []unstructured.Unstructured
	block bool
}

func (r *listReader) List(ctx context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if r.block { // an informer that never syncs
		<-ctx.Done()
		return ctx.Err()
	}
	l, ok := list.(*unstructured.UnstructuredList)
	if !ok {
		return &unexpectedList{list}
	}
	l.Items = append(l.Items, r.items...)
	return nil
}

type unexpectedList struct{ l client.ObjectList }

func (u *unexpectedList) Error() string { return "exceptions must be listed unstructured" }

func exceptionObject(t *testing.T, doc string) unstructured.Unstructured {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	return unstructured.Unstructured{Object: obj}
}

// writableReview is a CREATE review of a hardened Pod in "runners" whose
// main container has a writable root, sent by user.
func writableReview(t *testing.T, g *Guard, user authenticationv1.UserInfo) []byte {
	t.Helper()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "runners", Name: "load", Labels: map[string]string{"kestra.io/flow-id": "legacy-load"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "python:3.12"}}},
	}
	g.Engine.Options().Mutate(p, policy.ScopePod)
	p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "runners", Name: "load", Operation: admissionv1.Create, UserInfo: user, DryRun: ptr.To(false),
		},
	}
	ar.Request.Object.Raw = raw
	b, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	badException = `apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: a-bad, namespace: runners}
spec: {rules: [read-only-root-filesystem], reason: typo, expires: "2030-01-01t00:00:00z"}
`
	trustedException = `apiVersion: kestra-guard.io/v1alpha1
kind: PolicyException
metadata: {name: b-pip, namespace: runners}
spec:
  waive: [{rule: read-only-root-filesystem}]
  reason: pip at run time
  match: {flowId: {exact: legacy-load}, requestedBy: {serviceAccounts: [kestra/kestra-worker]}}
`
)

// The webhook reads exceptions unstructured: one it cannot read is named
// and skipped, the valid one next to it applies, and only to requests from
// the identity it trusts (the request's userInfo, on both decode paths).
func TestExceptionsAtAdmission(t *testing.T) {
	g := testGuard(t)
	g.Exceptions = &listReader{items: []unstructured.Unstructured{exceptionObject(t, badException), exceptionObject(t, trustedException)}}
	worker := authenticationv1.UserInfo{Username: "system:serviceaccount:kestra:kestra-worker", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	other := authenticationv1.UserInfo{Username: "bob", Groups: []string{"system:authenticated"}}
	unreadable := `PolicyException runners/a-bad cannot be read and waives nothing: spec.expires: "2030-01-01t00:00:00z"`
	h := bothPaths(g)[0]
	if h.name != "validate" {
		t.Fatal("bothPaths changed order")
	}
	for name, handler := range map[string]http.Handler{"admission.Webhook": h.reference, "PodHandler": h.direct} {
		t.Run(name+"/trusted requester: waived", func(t *testing.T) {
			r := response(t, post(handler, writableReview(t, g, worker)))
			warnings := strings.Join(r.Warnings, "\n")
			if !r.Allowed || !strings.Contains(warnings, "read-only-root-filesystem waived by PolicyException runners/b-pip") {
				t.Fatalf("allowed = %v, warnings:\n%s\n%v", r.Allowed, warnings, r.Result)
			}
			if !strings.Contains(warnings, unreadable) {
				t.Errorf("warnings do not name the unreadable exception:\n%s", warnings)
			}
		})
		t.Run(name+"/other requester: denied, saying why", func(t *testing.T) {
			r := response(t, post(handler, writableReview(t, g, other)))
			if r.Allowed {
				t.Fatal("admitted for a requester the exception does not trust")
			}
			for _, want := range []string{
				"read-only-root-filesystem: spec.containers[0].securityContext.readOnlyRootFilesystem",
				`PolicyException runners/b-pip does not waive read-only-root-filesystem for this request: it trusts Pods requested by service accounts kestra/kestra-worker, and the request came from "bob"`,
				unreadable,
			} {
				if !strings.Contains(r.Result.Message, want) {
					t.Errorf("denial lacks %q:\n%s", want, r.Result.Message)
				}
			}
		})
	}
}

// An exceptions informer that never syncs delays admission by at most
// exceptionReadTimeout, and then nothing is waived.
func TestExceptionsReadIsBounded(t *testing.T) {
	g := testGuard(t)
	g.Exceptions = &listReader{block: true}
	start := time.Now()
	r := response(t, post(PodHandler(Validator{Guard: g}), writableReview(t, g, authenticationv1.UserInfo{Username: "bob"})))
	if d := time.Since(start); d > exceptionReadTimeout+time.Second {
		t.Errorf("admission waited %v for the exceptions", d)
	}
	if r.Allowed {
		t.Error("admitted while the exceptions could not be read")
	}
}
