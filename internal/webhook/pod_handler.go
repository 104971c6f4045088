package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/jsonw"
)

// The Pod endpoints are served by PodHandler rather than controller-runtime's
// admission.Webhook, which reads each review twice (encoding/json to find its
// kind, then again with the object left raw) before kestra-guard decoded the
// Pod a third time. PodHandler decodes the AdmissionReview once, the Pod
// included, with github.com/go-json-experiment/json (json/v2): case-sensitive
// like the API machinery, and it refuses duplicate names and invalid UTF-8,
// which the API machinery's decoder accepts; a review it cannot decode is an
// error response (fail closed). The common allowed response is written
// directly; anything else goes through encoding/json as controller-runtime
// writes it. PodHandler is the only decode path of the Pod webhooks in
// production; the one it replaced lives in the tests (reference_test.go), and
// the equivalence tests (pod_handler_test.go, fuzz_test.go) hold both to the
// same Pod, verdict and bytes.

// reviewer decides one decoded request: Validator and Mutator.
type reviewer interface {
	decide(ctx context.Context, req *admissionv1.AdmissionRequest, object, oldObject podSource) decision
	guard() *Guard
	// webhook names it in metrics: "validate" or "mutate".
	webhook() string
}

func (Validator) webhook() string { return "validate" }
func (Mutator) webhook() string   { return "mutate" }

func (g *Guard) guard() *Guard { return g }

// PodHandler serves a Pod webhook (Validator or Mutator). The caller limits
// the body's size (server.limitBody).
func PodHandler(r reviewer) http.Handler {
	return &podHandler{r: r, endpoint: endpoint{name: r.webhook(), guard: r.guard()}}
}

type podHandler struct {
	r        reviewer
	endpoint endpoint
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled is the largest buffer kept for reuse; a rare huge review does not
// pin its memory.
const maxPooled = 1 << 20

// reviewIn is the part of an AdmissionReview (admission.k8s.io/v1 or
// v1beta1, the same shape) the Pod webhooks read.
type reviewIn struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Request    *requestIn `json:"request"`
	// Response is not read; it is decoded so that a review the API
	// machinery's decoder refuses is refused here too.
	Response *admissionv1.AdmissionResponse `json:"response"`
}

type requestIn struct {
	UID         types.UID                   `json:"uid"`
	Kind        metav1.GroupVersionKind     `json:"kind"`
	Name        string                      `json:"name"`
	Namespace   string                      `json:"namespace"`
	Operation   admissionv1.Operation       `json:"operation"`
	SubResource string                      `json:"subResource"`
	DryRun      *bool                       `json:"dryRun"`
	Object      *podIn                      `json:"object"`
	OldObject   jsontext.Value              `json:"oldObject"`
	Resource    metav1.GroupVersionResource `json:"resource"`
	// Not read; decoded as the API machinery does, for the same reason as
	// reviewIn.Response.
	RequestKind        *metav1.GroupVersionKind     `json:"requestKind"`
	RequestResource    *metav1.GroupVersionResource `json:"requestResource"`
	RequestSubResource string                       `json:"requestSubResource"`
	UserInfo           authenticationv1.UserInfo    `json:"userInfo"`
	Options            runtime.RawExtension         `json:"options"`
}

// The AdmissionReview versions a review may have; the response echoes it.
const (
	reviewV1      = "admission.k8s.io/v1"
	reviewV1beta1 = "admission.k8s.io/v1beta1"
)

func (h *podHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooled {
			buffers.Put(buf)
		}
	}()
	// Reading and decoding the review are part of the request: their
	// failures go through the endpoint's middleware too.
	var req admissionv1.AdmissionRequest
	var version string
	resp := h.endpoint.serve(&req, func() decision { return h.handle(r, buf, &req, &version) })
	complete(&resp, req.UID)
	buf.Reset()
	writeReview(buf, version, resp)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// handle reads, decodes and decides one review. It fills req and version
// (the review's apiVersion) as it reads them, so that the answer to a later
// failure, a panic included, carries them; version stays "" when the review
// could not be read (the response then carries no kind, as
// controller-runtime's does).
func (h *podHandler) handle(r *http.Request, buf *bytes.Buffer, req *admissionv1.AdmissionRequest, version *string) decision {
	if r.Body == nil || r.Body == http.NoBody {
		return failed(badRequest(errors.New("request body is empty")))
	}
	defer func() { _ = r.Body.Close() }()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1)
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return failed(badRequest(fmt.Errorf("reading the request body: %w", err)))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return failed(badRequest(fmt.Errorf("contentType=%s, expected application/json", ct)))
	}
	var in reviewIn
	if err := decodeReview(buf.Bytes(), &in); err != nil {
		return failed(badRequest(err))
	}
	*version = in.APIVersion
	object, oldObject := podSource{}, podSource{}
	if q := in.Request; q != nil {
		*req = admissionv1.AdmissionRequest{UID: q.UID, Kind: q.Kind, Resource: q.Resource, SubResource: q.SubResource,
			Name: q.Name, Namespace: q.Namespace, Operation: q.Operation, DryRun: q.DryRun, UserInfo: q.UserInfo}
		pod := q.Object.pod()
		object = podSource{present: pod != nil, decode: func() (*corev1.Pod, error) { return pod, nil }}
		oldObject = v2Pod(q.OldObject)
	}
	return h.r.decide(r.Context(), req, object, oldObject)
}

// decodeReview decodes an AdmissionReview of either version with json/v2's
// defaults: names matched case-sensitively, duplicate names and invalid UTF-8
// refused, unknown names ignored.
func decodeReview(b []byte, in *reviewIn) error {
	if err := jsonv2.Unmarshal(b, in); err != nil {
		return fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if in.Kind != "AdmissionReview" || (in.APIVersion != reviewV1 && in.APIVersion != reviewV1beta1) {
		return fmt.Errorf("decoding the AdmissionReview: expected kind AdmissionReview of %s or %s, got kind %q of %q", reviewV1, reviewV1beta1, in.Kind, in.APIVersion)
	}
	return nil
}

// podIn is a Pod whose managedFields (about 40% of a review's bytes; no rule
// reads them) are checked to be valid JSON and skipped: the field shadows
// ObjectMeta's own, as a shallower field does in Go.
type podIn struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metaIn           `json:"metadata"`
	Spec            corev1.PodSpec   `json:"spec"`
	Status          corev1.PodStatus `json:"status"`
}

type metaIn struct {
	metav1.ObjectMeta `json:",inline"`
	ManagedFields     skipped `json:"managedFields"`
}

// skipped is a JSON value read and dropped.
type skipped struct{}

func (skipped) UnmarshalJSONFrom(dec *jsontext.Decoder) error { return dec.SkipValue() }

func (p *podIn) pod() *corev1.Pod {
	if p == nil {
		return nil
	}
	return &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.Metadata.ObjectMeta, Spec: p.Spec, Status: p.Status}
}

// v2Pod decodes the old object only when asked (the UPDATE rule of resolve).
func v2Pod(raw jsontext.Value) podSource {
	if len(raw) == 0 || string(raw) == "null" {
		return podSource{}
	}
	return podSource{present: true, decode: func() (*corev1.Pod, error) {
		var pod podIn
		if err := jsonv2.Unmarshal(raw, &pod); err != nil {
			return nil, err
		}
		return pod.pod(), nil
	}}
}

// complete does what controller-runtime's Response.Complete does.
func complete(resp *admission.Response, uid types.UID) {
	resp.UID = uid
	if resp.Result == nil {
		resp.Result = &metav1.Status{}
	}
	if resp.Result.Code == 0 {
		resp.Result.Code = http.StatusOK
	}
}

// writeReview writes the response as controller-runtime does
// (json.NewEncoder(w).Encode of an admissionv1.AdmissionReview, kind and
// apiVersion echoing the request's), directly when it is the common allowed
// response.
func writeReview(buf *bytes.Buffer, version string, resp admission.Response) {
	if direct(&resp) {
		writeAllowed(buf, version, &resp.AdmissionResponse)
		return
	}
	ar := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	if version != "" {
		ar.APIVersion, ar.Kind = version, "AdmissionReview"
	}
	if err := json.NewEncoder(buf).Encode(ar); err != nil {
		buf.Reset()
		e := admission.Errored(http.StatusInternalServerError, err)
		_ = json.NewEncoder(buf).Encode(admissionv1.AdmissionReview{Response: &e.AdmissionResponse})
	}
}

// direct reports whether writeAllowed writes resp exactly.
func direct(resp *admission.Response) bool {
	s := resp.Result
	return resp.Allowed && len(resp.Patches) == 0 && s != nil && s.Kind == "" && s.APIVersion == "" &&
		s.ListMeta == (metav1.ListMeta{}) && s.Status == "" && s.Details == nil
}

// writeAllowed writes what encoding/json writes for the review, byte for
// byte, newline included.
func writeAllowed(buf *bytes.Buffer, version string, r *admissionv1.AdmissionResponse) {
	b := buf.AvailableBuffer()
	b = append(b, '{')
	if version != "" {
		b = append(b, `"kind":"AdmissionReview","apiVersion":`...)
		b = jsonw.AppendString(b, version)
		b = append(b, ',')
	}
	b = append(b, `"response":{"uid":`...)
	b = jsonw.AppendString(b, string(r.UID))
	b = append(b, `,"allowed":true,"status":{"metadata":{}`...)
	if s := r.Result; s != nil {
		if s.Message != "" {
			b = append(b, `,"message":`...)
			b = jsonw.AppendString(b, s.Message)
		}
		if s.Reason != "" {
			b = append(b, `,"reason":`...)
			b = jsonw.AppendString(b, string(s.Reason))
		}
		if s.Code != 0 {
			b = append(b, `,"code":`...)
			b = strconv.AppendInt(b, int64(s.Code), 10)
		}
	}
	b = append(b, '}')
	if len(r.Patch) > 0 {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Patch)
		b = append(b, '"')
	}
	if r.PatchType != nil {
		b = append(b, `,"patchType":`...)
		b = jsonw.AppendString(b, string(*r.PatchType))
	}
	if len(r.AuditAnnotations) > 0 {
		b = append(b, `,"auditAnnotations":{`...)
		keys := make([]string, 0, len(r.AuditAnnotations))
		for k := range r.AuditAnnotations {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, k)
			b = append(b, ':')
			b = jsonw.AppendString(b, r.AuditAnnotations[k])
		}
		b = append(b, '}')
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, w)
		}
		b = append(b, ']')
	}
	b = append(b, "}}\n"...)
	buf.Write(b)
}
