package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/scope"
)

// The tests here hold PodHandler (one json/v2 decode, direct responses) to
// the path it replaces: controller-runtime's admission.Webhook with
// reference (reference_test.go), which decodes the Pod with sigs.k8s.io/json
// as the API machinery does.

// testGuard, shared by the tests, fuzz targets and benchmarks of this
// package, guards "runners" (runner namespace, enforce, managed policy
// present), "audited" (runner namespace in audit mode) and "plain" (a
// namespace that is not a runner namespace).
func testGuard(t testing.TB) *Guard {
	cfg := config.Default()
	e, err := policy.NewEngine(cfg.Policy)
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "runners", Labels: map[string]string{scope.RunnerLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "audited", Labels: map[string]string{scope.RunnerLabel: "true", scope.ModeLabel: "audit"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		managed.Build("runners", managed.Spec{Metadata: e.Options().Metadata}),
		managed.Build("plain", managed.Spec{Metadata: e.Options().Metadata}),
	).Build()
	g := newGuard(t, cfg, Guard{Reader: c, Live: c, Writer: c, Log: logr.Discard()})
	return g
}

// handlers are the two Pod webhooks under both paths.
type handlers struct {
	name      string
	reference http.Handler // admission.Webhook + reference
	direct    http.Handler // PodHandler
}

func bothPaths(g *Guard) []handlers {
	return []handlers{
		{"validate", &admission.Webhook{Handler: reference(Validator{Guard: g})}, PodHandler(Validator{Guard: g})},
		{"mutate", &admission.Webhook{Handler: reference(Mutator{Guard: g})}, PodHandler(Mutator{Guard: g})},
	}
}

func post(h http.Handler, body []byte) []byte {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Body.Bytes()
}

func response(t testing.TB, b []byte) *admissionv1.AdmissionResponse {
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &ar); err != nil || ar.Response == nil {
		t.Fatalf("not an AdmissionReview response (%v): %s", err, b)
	}
	return ar.Response
}

// capturedReviews are the bodies hack/capture recorded from kube-apiserver,
// compacted as the API server sends them.
func capturedReviews(t testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/reviews/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured review in testdata/reviews (%v): run go run ./hack/capture", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = c.Bytes()
	}
	return out
}

// variants are a review as sent, in the other namespaces and as v1beta1.
func variants(body []byte) map[string][]byte {
	return map[string][]byte{
		"":             body,
		"/audited":     bytes.ReplaceAll(body, []byte(`"runners"`), []byte(`"audited"`)),
		"/plain":       bytes.ReplaceAll(body, []byte(`"runners"`), []byte(`"plain"`)),
		"/kube-system": bytes.ReplaceAll(body, []byte(`"runners"`), []byte(`"kube-system"`)),
		"/v1beta1":     bytes.Replace(body, []byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"admission.k8s.io/v1beta1"`), 1),
		"/dry-run":     bytes.Replace(body, []byte(`"dryRun":false`), []byte(`"dryRun":true`), 1),
	}
}

// samePaths checks that both paths answer body with the same bytes.
func samePaths(t *testing.T, hs []handlers, name string, body []byte) {
	t.Helper()
	for _, h := range hs {
		want, got := post(h.reference, body), post(h.direct, body)
		if !bytes.Equal(want, got) {
			t.Errorf("%s %s: responses differ\nadmission.Webhook: %s\nPodHandler:        %s", h.name, name, want, got)
		}
	}
}

// samePod checks that json/v2 and sigs.k8s.io/json decode the review's Pod alike.
func samePod(t *testing.T, name string, body []byte) {
	t.Helper()
	var in reviewIn
	if err := decodeReview(body, &in); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var ref admissionv1.AdmissionReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &ref); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var want corev1.Pod
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(ref.Request.Object.Raw, &want); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	want.ManagedFields = nil // PodHandler skips them: no rule reads them
	if got := in.Request.Object.pod(); !reflect.DeepEqual(got, &want) {
		t.Errorf("%s: json/v2 decoded\n%+v\nsigs.k8s.io/json decoded\n%+v", name, got, &want)
	}
	if len(ref.Request.OldObject.Raw) > 0 {
		old, err := v2Pod(in.Request.OldObject).decode()
		if err != nil {
			t.Fatalf("%s: old object: %v", name, err)
		}
		var wantOld corev1.Pod
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(ref.Request.OldObject.Raw, &wantOld); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantOld.ManagedFields = nil
		if !reflect.DeepEqual(old, &wantOld) {
			t.Errorf("%s: the old Pods differ", name)
		}
	}
}

func TestCapturedReviewsBothPaths(t *testing.T) {
	hs := bothPaths(testGuard(t))
	for name, body := range capturedReviews(t) {
		samePod(t, name, body)
		for v, b := range variants(body) {
			samePaths(t, hs, name+v, b)
		}
	}
}

// The captured reviews exercise what they should: the passing runner is
// admitted without a patch by validate, the Kestra default Pod is patched.
func TestCapturedReviewsVerdicts(t *testing.T) {
	hs := bothPaths(testGuard(t))
	reviews := capturedReviews(t)
	for _, c := range []struct {
		review, webhook string
		allowed, patch  bool
	}{
		{"validate-passing-create", "validate", true, false},
		{"validate-kestra-default-create", "validate", false, false},
		{"mutate-kestra-default-create", "mutate", true, true},
		{"mutate-passing-create", "mutate", true, true}, // the injected token is not there: HOME is set
		{"validate-passing-update", "validate", true, false},
	} {
		for _, h := range hs {
			if h.name != c.webhook {
				continue
			}
			r := response(t, post(h.direct, reviews[c.review]))
			if r.Allowed != c.allowed || (len(r.Patch) > 0) != c.patch {
				t.Errorf("%s: allowed=%v patch=%q, want allowed=%v patch=%v", c.review, r.Allowed, r.Patch, c.allowed, c.patch)
			}
		}
	}
}

// tweaks change one thing of a Pod each, with random values; generated Pods
// combine a few.
var tweaks = []func(r *rand.Rand, p *corev1.Pod){
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.SecurityContext = nil },
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostNetwork = r.IntN(2) == 0 },
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = randBool(r) },
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.ServiceAccountName = randString(r) },
	func(r *rand.Rand, p *corev1.Pod) { p.Labels = map[string]string{randString(r): randString(r)} },
	func(r *rand.Rand, p *corev1.Pod) { p.Labels["kestra.io/flow-id"] = randString(r) },
	func(r *rand.Rand, p *corev1.Pod) { p.Annotations = map[string]string{"a": randString(r)} },
	func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: randString(r), VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: randPath(r)}}})
	},
	func(r *rand.Rand, p *corev1.Pod) {
		if p.Spec.SecurityContext != nil {
			p.Spec.SecurityContext.RunAsUser = ptr.To(r.Int64N(3) - 1)
			p.Spec.SecurityContext.RunAsNonRoot = randBool(r)
		}
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := &p.Spec.Containers[r.IntN(len(p.Spec.Containers))]
		c.SecurityContext = nil
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := &p.Spec.Containers[r.IntN(len(p.Spec.Containers))]
		if c.SecurityContext == nil {
			c.SecurityContext = &corev1.SecurityContext{}
		}
		c.SecurityContext.Privileged = randBool(r)
		c.SecurityContext.ReadOnlyRootFilesystem = randBool(r)
		c.SecurityContext.AllowPrivilegeEscalation = randBool(r)
		c.SecurityContext.RunAsUser = ptr.To(r.Int64N(70000))
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := &p.Spec.Containers[r.IntN(len(p.Spec.Containers))]
		c.Env = append(c.Env, corev1.EnvVar{Name: randString(r), Value: randString(r)})
		c.Command = append(c.Command, randString(r))
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := &p.Spec.Containers[r.IntN(len(p.Spec.Containers))]
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: r.Int32N(65535) + 1, HostPort: r.Int32N(2) * 8080})
		c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "169.254.169.254", Port: intstr.FromInt32(r.Int32N(100) + 1)}}}
	},
	func(r *rand.Rand, p *corev1.Pod) {
		c := &p.Spec.Containers[r.IntN(len(p.Spec.Containers))]
		c.Image = randString(r) + "/" + randString(r)
		c.VolumeMounts = nil
	},
	func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: randString(r), Image: "busybox"})
	},
	func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: randString(r), Image: "busybox"}})
	},
	func(r *rand.Rand, p *corev1.Pod) { p.Spec.HostPID, p.Spec.HostIPC = r.IntN(2) == 0, r.IntN(2) == 0 },
}

func randBool(r *rand.Rand) *bool {
	if r.IntN(3) == 0 {
		return nil
	}
	return ptr.To(r.IntN(2) == 0)
}

// randString mixes plain names with what JSON escaping must handle.
func randString(r *rand.Rand) string {
	parts := []string{"a", "main", "x-1", `"`, `\`, "<", ">", "&", "\u2028", "\u2029", "é", "\n", "\t", "\x01", "世界", "😀", "kestra"}
	var b strings.Builder
	for range r.IntN(4) + 1 {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

func randPath(r *rand.Rand) string {
	return []string{"/", "/var/run/docker.sock", "//var/run/", "/data", "/etc/../etc", "/tmp/x"}[r.IntN(6)]
}

// reviewOf puts p in a review like a captured one (same request fields).
func reviewOf(t testing.TB, base []byte, p *corev1.Pod, op admissionv1.Operation, old *corev1.Pod) []byte {
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(base, &ar); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ar.Request.Object.Raw, ar.Request.Operation, ar.Request.Namespace = raw, op, p.Namespace
	ar.Request.OldObject.Raw = nil
	if old != nil {
		if ar.Request.OldObject.Raw, err = json.Marshal(old); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Generated Pods: both paths give the same Pod and the same bytes.
func TestGeneratedPodsBothPaths(t *testing.T) {
	g := testGuard(t)
	hs := bothPaths(g)
	reviews := capturedReviews(t)
	bases := map[string]*corev1.Pod{}
	for _, name := range []string{"mutate-passing-create", "mutate-kestra-default-create", "validate-passing-create"} {
		var ar admissionv1.AdmissionReview
		if err := json.Unmarshal(reviews[name], &ar); err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{}
		if err := json.Unmarshal(ar.Request.Object.Raw, p); err != nil {
			t.Fatal(err)
		}
		bases[name] = p
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 1500
	if testing.Short() {
		n = 200
	}
	names := []string{"mutate-passing-create", "mutate-kestra-default-create", "validate-passing-create"}
	for i := range n {
		base := names[r.IntN(len(names))]
		p := bases[base].DeepCopy()
		for range r.IntN(5) + 1 {
			tweaks[r.IntN(len(tweaks))](r, p)
		}
		p.Namespace = []string{"runners", "audited", "plain"}[r.IntN(3)]
		op, old := admissionv1.Create, (*corev1.Pod)(nil)
		if r.IntN(4) == 0 {
			op, old = admissionv1.Update, bases[base].DeepCopy()
			old.Namespace = p.Namespace
			if r.IntN(2) == 0 {
				p.Labels = nil
			}
		}
		body := reviewOf(t, reviews[base], p, op, old)
		name := fmt.Sprintf("pod %d from %s", i, base)
		samePod(t, name, body)
		samePaths(t, hs, name, body)
	}
}

// Bodies the API machinery's decoder accepts and json/v2 refuses: the new
// path answers with an error and never admits.
func TestMalformedReviewsRefused(t *testing.T) {
	hs := bothPaths(testGuard(t))
	body := capturedReviews(t)["validate-passing-create"]
	cases := map[string][]byte{
		"duplicate key in the Pod":      bytes.Replace(body, []byte(`"restartPolicy"`), []byte(`"hostNetwork":true,"hostNetwork":false,"restartPolicy"`), 1),
		"duplicate key hiding hostPath": bytes.Replace(body, []byte(`"volumes":[`), []byte(`"volumes":[{"name":"h","hostPath":{"path":"/"}}],"volumes":[`), 1),
		"duplicate key in the review":   bytes.Replace(body, []byte(`"operation":"CREATE"`), []byte(`"operation":"UPDATE","operation":"CREATE"`), 1),
		"invalid UTF-8":                 bytes.Replace(body, []byte(`"main"`), []byte("\"ma\xffin\""), 1),
		"not JSON":                      []byte(`{"kind":`),
		"wrong review kind":             bytes.Replace(body, []byte(`"kind":"AdmissionReview"`), []byte(`"kind":"Pod"`), 1),
		"unknown review version":        bytes.Replace(body, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v2"`), 1),
		"object is a list":              bytes.Replace(body, []byte(`"object":{`), []byte(`"object":[],"x":{`), 1),
		"number as string":              bytes.Replace(body, []byte(`"runAsUser":65532`), []byte(`"runAsUser":"0"`), 1),
		"float uid":                     bytes.Replace(body, []byte(`"runAsUser":65532`), []byte(`"runAsUser":1.5`), 1),
	}
	for name, b := range cases {
		if bytes.Equal(b, body) {
			t.Fatalf("%s: the case changed nothing", name)
		}
		for _, h := range hs {
			r := response(t, post(h.direct, b))
			if r.Allowed || r.Result == nil || r.Result.Code != http.StatusBadRequest {
				t.Errorf("%s %s: want an error response (code 400), got %+v", h.name, name, r)
			}
		}
	}
	// Wrong case is no name at all for both: "HostNetwork" is ignored.
	wrongCase := bytes.Replace(body, []byte(`"restartPolicy"`), []byte(`"HostNetwork":true,"restartPolicy"`), 1)
	samePaths(t, hs, "wrong case", wrongCase)
	if r := response(t, post(hs[0].direct, wrongCase)); !r.Allowed {
		t.Errorf("wrong-case name: want it ignored (admitted), got %+v", r)
	}
}

// Content-Type, empty body and a panic are error responses.
func TestHandlerErrors(t *testing.T) {
	g := testGuard(t)
	var logged []string
	g.Log = funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	g.Metrics = NewMetrics(prometheus.NewRegistry())
	errors := func() float64 { return testutil.ToFloat64(g.Metrics.decisions.WithLabelValues("validate", "error")) }
	h := PodHandler(Validator{Guard: g})
	body := capturedReviews(t)["validate-passing-create"]
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if resp := response(t, w.Body.Bytes()); resp.Allowed || resp.Result.Code != http.StatusBadRequest || !strings.Contains(resp.Result.Message, "expected application/json") {
		t.Errorf("text/plain: %+v", resp)
	}
	r = httptest.NewRequest(http.MethodPost, "/", http.NoBody)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if resp := response(t, w.Body.Bytes()); resp.Allowed || resp.Result.Code != http.StatusBadRequest {
		t.Errorf("empty body: %+v", resp)
	}
	if n := errors(); n != 2 {
		t.Errorf("the two refused requests counted as %v errors, want 2", n)
	}
	// A Guard whose reader panics: the handler answers 500, allowed false,
	// logs the panic with its stack and counts an error.
	g.Reader = nil
	logged = nil
	resp := response(t, post(PodHandler(Validator{Guard: g}), body))
	if resp.Allowed || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "panic") || resp.UID == "" {
		t.Errorf("panic: %+v", resp)
	}
	if n := errors(); n != 3 {
		t.Errorf("after the panic: %v errors counted, want 3", n)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "admission request failed") || !strings.Contains(logged[0], "pod_handler.go") || !strings.Contains(logged[0], string(resp.UID)) {
		t.Errorf("the panic was logged as %q, want one line with the uid and the stack", logged)
	}
}

// The hand-written allowed response is what encoding/json writes for the
// same AdmissionReview, byte for byte.
func TestWriteAllowedMatchesEncodingJSON(t *testing.T) {
	pt := admissionv1.PatchTypeJSONPatch
	nasty := []string{`say "hi"`, `a\b`, "<script>&</script>", "line\u2028sep\u2029", "bad \xff\xfe utf8", "ctl \x00\x01\x1f\x7f \b\f\n\r\t", "é世界😀", "", "\xed\xa0\x80 surrogate"}
	cases := map[string]admissionv1.AdmissionResponse{
		"plain":       {UID: "u", Allowed: true, Result: &metav1.Status{Code: 200}},
		"message":     {UID: "u<1>", Allowed: true, Result: &metav1.Status{Code: 200, Message: "not a task-runner Pod"}},
		"reason":      {UID: "u", Allowed: true, Result: &metav1.Status{Code: 200, Reason: "x&y"}},
		"patch":       {UID: "u", Allowed: true, Result: &metav1.Status{Code: 200}, Patch: []byte(`[{"op":"add","path":"/spec/x","value":"<&>"}]`), PatchType: &pt},
		"warnings":    {UID: "u", Allowed: true, Result: &metav1.Status{Code: 200}, Warnings: nasty},
		"annotations": {UID: "u", Allowed: true, Result: &metav1.Status{Code: 200}, AuditAnnotations: map[string]string{"violations": nasty[2], "waived": nasty[4], "a\u2028": "1"}},
		"everything": {UID: "\xff", Allowed: true, Result: &metav1.Status{Code: 200, Message: nasty[3]}, Patch: []byte{0, 1, 2, 0xff}, PatchType: &pt,
			AuditAnnotations: map[string]string{"b": "2", "a": "1"}, Warnings: nasty},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		cases[fmt.Sprintf("random %d", i)] = admissionv1.AdmissionResponse{UID: "u", Allowed: true, Result: &metav1.Status{Code: 200, Message: string(b)}, Warnings: []string{string(b), string(b[:len(b)/2])}}
	}
	for name, c := range cases {
		for _, version := range []string{"", reviewV1, reviewV1beta1} {
			ar := admissionv1.AdmissionReview{Response: &c}
			if version != "" {
				ar.APIVersion, ar.Kind = version, "AdmissionReview"
			}
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(ar); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			resp := admission.Response{AdmissionResponse: c}
			if !direct(&resp) {
				t.Fatalf("%s: not written directly", name)
			}
			writeAllowed(&got, version, &c)
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s %q:\nencoding/json: %s\nwriteAllowed:  %s", name, version, want.Bytes(), got.Bytes())
			}
		}
	}
}

// FuzzPodReview posts raw review bytes to both paths. Oracle: the new path
// never admits what the reference (admission.Webhook + reference, the API
// machinery's decoder) refuses; when json/v2 decodes the review, both agree
// on allowed and on the patch.
// withoutManagedFields is body with request.object.metadata.managedFields
// removed, or false when body is not a JSON object of that shape.
func withoutManagedFields(body []byte) ([]byte, bool) {
	var review map[string]any
	if json.Unmarshal(body, &review) != nil {
		return nil, false
	}
	req, _ := review["request"].(map[string]any)
	obj, _ := req["object"].(map[string]any)
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		return nil, false
	}
	delete(meta, "managedFields")
	b, err := json.Marshal(review)
	return b, err == nil
}

func FuzzPodReview(f *testing.F) {
	for _, b := range capturedReviews(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"namespace":"runners","operation":"CREATE","object":{"spec":{"hostNetwork":true}}}}`))
	f.Add([]byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"namespace":"runners","operation":"CREATE","object":{"spec":{"hostNetwork":false,"hostNetwork":true}}}}`))
	f.Add([]byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"namespace":"plain","operation":"UPDATE","object":{"metadata":{"labels":{}}},"oldObject":{"metadata":{"labels":{"kestra.io/taskrun-id":"x"}}}}}`))
	// managedFields that are not a list of entries: the reference refuses
	// them, PodHandler skips them unread (see below).
	f.Add([]byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"namespace":"runners","operation":"CREATE","object":{"metadata":{"managedFields":5},"spec":{"containers":[{"name":"c","image":"busybox","securityContext":{"readOnlyRootFilesystem":true,"runAsNonRoot":true}}]}}}}`))
	g := testGuard(f)
	hs := bothPaths(g)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in reviewIn
		decoded := decodeReview(body, &in) == nil
		for _, h := range hs {
			want, got := response(t, post(h.reference, body)), response(t, post(h.direct, body))
			// The one refusal PodHandler does not share: managedFields it
			// cannot decode, of another shape or with a malformed time (the
			// API server writes them itself, and no rule reads them),
			// which it checks to be JSON and skips. When the reference
			// refuses, it also judges the same review without them, and
			// that is the answer PodHandler must give.
			if !want.Allowed {
				if stripped, ok := withoutManagedFields(body); ok {
					if alt := response(t, post(h.reference, stripped)); alt.Allowed {
						want = alt
					}
				} else if strings.Contains(want.Result.Message, ".managedFields") {
					continue
				}
			}
			if got.Allowed && !want.Allowed {
				t.Fatalf("%s: PodHandler admitted what admission.Webhook refused (%s): %q", h.name, want.Result.Message, body)
			}
			if !decoded {
				if got.Allowed {
					t.Fatalf("%s: PodHandler admitted a review json/v2 cannot decode: %q", h.name, body)
				}
				continue
			}
			if got.Allowed != want.Allowed || !bytes.Equal(got.Patch, want.Patch) {
				t.Fatalf("%s: allowed %v/%v, patch %q/%q for %q", h.name, got.Allowed, want.Allowed, got.Patch, want.Patch, body)
			}
		}
	})
}
