package webhook

import (
	"context"
	"errors"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/apis/v1alpha1"
	"github.com/kestra-guard/kestra-guard/internal/exception"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// WaivedAnnotation is the audit annotation key listing waived violations.
const WaivedAnnotation = "waived"

// exceptionReadTimeout bounds the wait for the exceptions' informer (its
// first list after a start): past it no exception applies, and the Pod is
// decided as if there were none, well within the webhook's timeout.
const exceptionReadTimeout = 2 * time.Second

// exceptionListGVK is what the exceptions are read as: an unstructured list,
// whose informer never fails on one object the typed decoder refuses (a
// typed informer stops listing them all, and every admission then waits
// for a cache that never syncs). Each item is converted on its own
// (exception.FromList); a bad one is skipped and named.
var exceptionListGVK = v1alpha1.GroupVersion.WithKind("PolicyExceptionList")

// exceptions applies the PolicyExceptions of the Pod's namespace, read from
// g.Exceptions (the informer cache), to the violations of a request by req.
// A Pod without violations reads nothing. When they cannot be read, nothing
// is waived: the decision is the one without exceptions.
func (g *Guard) exceptions(ctx context.Context, pod *corev1.Pod, vs []policy.Violation, req *exception.Requester) exception.Outcome {
	if g.Exceptions == nil || len(vs) == 0 {
		return exception.Outcome{Violations: vs}
	}
	ctx, cancel := context.WithTimeout(ctx, exceptionReadTimeout)
	defer cancel()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(exceptionListGVK)
	if err := g.Exceptions.List(ctx, list, client.InNamespace(pod.Namespace)); err != nil {
		if !meta.IsNoMatchError(err) { // no CRD installed: no exception
			g.Log.Error(err, "reading PolicyExceptions; none applied", "namespace", pod.Namespace)
		}
		return exception.Outcome{Violations: vs}
	}
	excs, bad := exception.FromList(list.Items)
	for _, b := range bad {
		g.ExceptionMetrics.RecordUnreadable(b)
		g.Log.Error(errors.New(b.Err), "PolicyException cannot be read; it waives nothing, the others apply", "namespace", b.Namespace, "name", b.Name)
	}
	out := exception.Apply(excs, pod, vs, time.Now(), req)
	out.Unreadable = bad
	g.ExceptionMetrics.Record(out)
	return out
}

// requester is who sent req, as the API server authenticated it.
func requester(req *admissionv1.AdmissionRequest) *exception.Requester {
	return &exception.Requester{User: req.UserInfo.Username, Groups: req.UserInfo.Groups}
}

// exceptionWarnings name every exception that waived or no longer waives
// something, with its reason and owner.
func exceptionWarnings(o exception.Outcome) []string {
	var ws []string
	for _, s := range o.Summary() {
		ws = append(ws, "kestra-guard: "+strings.Join(s.Rules, ", ")+" waived by "+s.Exception.Describe())
	}
	for _, n := range o.Notes() {
		ws = append(ws, "kestra-guard: "+n)
	}
	return ws
}

func waivedAnnotation(o exception.Outcome) string {
	parts := make([]string, len(o.Waived))
	for i, w := range o.Waived {
		parts[i] = w.Rule + "@" + w.Field + " by " + w.Exception.String()
	}
	return strings.Join(parts, ",")
}
