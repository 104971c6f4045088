package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/managed"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// failingReader is an API server that cannot be reached.
type failingReader struct{}

func (failingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("connection refused")
}

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("connection refused")
}

// recorded is what the metrics of one Guard hold: decisions by outcome,
// their total, and the number of latency observations.
type recorded struct {
	outcomes  map[string]float64
	total     float64
	latencies uint64
}

func gather(t *testing.T, reg *prometheus.Registry) recorded {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	r := recorded{outcomes: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "kestra_guard_admission_decisions_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						r.outcomes[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
				r.total += m.GetCounter().GetValue()
			case "kestra_guard_admission_duration_seconds":
				r.latencies += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return r
}

// Every endpoint records exactly one decision per request, with one latency
// observation, on every path: each outcome, a request at fault, an API read
// that fails, and a panic; and every error is logged once with its UID.
func TestOneDecisionPerRequest(t *testing.T) {
	reviews := capturedReviews(t)
	passing, kestraDefault := reviews["validate-passing-create"], reviews["validate-kestra-default-create"]
	podUID := response(t, post(PodHandler(Validator{Guard: testGuard(t)}), passing)).UID
	npKind := metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	allowAll, _ := json.Marshal(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}})
	npRequest := func(ns string, kind metav1.GroupVersionKind, raw []byte) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "np-uid", Kind: kind, Namespace: ns, Name: "allow-all",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}}
	}
	// podReview posts body to the Pod webhook named webhook.
	podReview := func(webhook string, body []byte, contentType string) func(*Guard) *admissionv1.AdmissionResponse {
		return func(g *Guard) *admissionv1.AdmissionResponse {
			var h http.Handler = PodHandler(Validator{Guard: g})
			if webhook == "mutate" {
				h = PodHandler(Mutator{Guard: g})
			}
			var r *http.Request
			if body == nil {
				r = httptest.NewRequest(http.MethodPost, "/", http.NoBody)
			} else {
				r = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			}
			r.Header.Set("Content-Type", contentType)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return response(t, w.Body.Bytes())
		}
	}
	npReview := func(req admission.Request) func(*Guard) *admissionv1.AdmissionResponse {
		return func(g *Guard) *admissionv1.AdmissionResponse {
			resp := NetworkPolicyValidator{Guard: g}.Handle(context.Background(), req)
			return &resp.AdmissionResponse
		}
	}
	// npWrite is a write of the NetworkPolicy name in ns by user; on
	// DELETE it carries the old object only, and a deletecollection item
	// carries no name (requestName reads the old object's).
	npWrite := func(ns, name string, op admissionv1.Operation, user string) admission.Request {
		req := npRequest(ns, npKind, allowAll)
		req.Name, req.Operation, req.UserInfo.Username = name, op, user
		if op == admissionv1.Delete {
			old, _ := json.Marshal(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
			if name == "" {
				old, _ = json.Marshal(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: managed.Name, Namespace: ns}})
			}
			req.Object, req.OldObject = runtime.RawExtension{}, runtime.RawExtension{Raw: old}
		}
		return req
	}
	denyAll, _ := json.Marshal(networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}})
	const failAPI, panics, failLive, warnRule = 1, 2, 3, 4
	type tc struct {
		webhook string
		send    func(*Guard) *admissionv1.AdmissionResponse
		// broken: failAPI: every API read fails; panics: the reader is
		// nil; failLive: only reads from the API server (not the cache)
		// fail; warnRule: metadata-egress-blocked is set to warn.
		broken  int
		outcome string
		code    int32 // for errors
		uid     string
	}
	cases := map[string]tc{}
	for _, wh := range []string{"validate", "mutate"} {
		json := "application/json"
		admittedOutcome := map[string]string{"validate": outcomeAdmitted, "mutate": outcomeMutated}[wh]
		cases[wh+"/admitted"] = tc{wh, podReview(wh, passing, json), 0, admittedOutcome, 0, ""}
		cases[wh+"/not guarded"] = tc{wh, podReview(wh, bytes.ReplaceAll(variants(passing)["/plain"], []byte(`"kestra.io/taskrun-id"`), []byte(`"kestra.io/other"`)), json), 0, outcomeSkipped, 0, ""}
		cases[wh+"/excluded namespace"] = tc{wh, podReview(wh, variants(passing)["/kube-system"], json), 0, outcomeSkipped, 0, ""}
		cases[wh+"/empty body"] = tc{wh, podReview(wh, nil, json), 0, outcomeError, http.StatusBadRequest, ""}
		cases[wh+"/wrong content type"] = tc{wh, podReview(wh, passing, "text/plain"), 0, outcomeError, http.StatusBadRequest, ""}
		cases[wh+"/not JSON"] = tc{wh, podReview(wh, []byte(`{"kind":`), json), 0, outcomeError, http.StatusBadRequest, ""}
		cases[wh+"/wrong kind"] = tc{wh, podReview(wh, bytes.Replace(passing, []byte(`"kind":{"group":"","version":"v1","kind":"Pod"}`), []byte(`"kind":{"group":"apps","version":"v1","kind":"Deployment"}`), 1), json), 0, outcomeError, http.StatusBadRequest, string(podUID)}
		cases[wh+"/API read fails"] = tc{wh, podReview(wh, passing, json), failAPI, outcomeError, http.StatusInternalServerError, string(podUID)}
		cases[wh+"/panic"] = tc{wh, podReview(wh, passing, json), panics, outcomeError, http.StatusInternalServerError, string(podUID)}
	}
	cases["validate/denied"] = tc{"validate", podReview("validate", kestraDefault, "application/json"), 0, outcomeDenied, 0, ""}
	cases["validate/audit"] = tc{"validate", podReview("validate", variants(kestraDefault)["/audited"], "application/json"), 0, outcomeAdmitted, 0, ""}
	cases["mutate/audit"] = tc{"mutate", podReview("mutate", variants(passing)["/audited"], "application/json"), 0, outcomeAudited, 0, ""}
	cases["mutate/out of scope"] = tc{"mutate", podReview("mutate", bytes.Replace(passing, []byte(`"operation":"CREATE"`), []byte(`"operation":"DELETE"`), 1), "application/json"), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/denied"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, allowAll)), 0, outcomeDenied, 0, ""}
	cases["networkpolicy/audit"] = tc{"networkpolicy", npReview(npRequest("audited", npKind, allowAll)), 0, outcomeAdmitted, 0, ""}
	cases["networkpolicy/excluded namespace"] = tc{"networkpolicy", npReview(npRequest("kube-system", npKind, allowAll)), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/wrong kind"] = tc{"networkpolicy", npReview(npRequest("runners", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, allowAll)), 0, outcomeError, http.StatusBadRequest, "np-uid"}
	cases["networkpolicy/no object"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, nil)), 0, outcomeError, http.StatusBadRequest, "np-uid"}
	cases["networkpolicy/undecodable"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, []byte(`{"spec":1}`))), 0, outcomeError, http.StatusBadRequest, "np-uid"}
	cases["networkpolicy/API read fails"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, allowAll)), failAPI, outcomeError, http.StatusInternalServerError, "np-uid"}
	cases["networkpolicy/panic"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, allowAll)), panics, outcomeError, http.StatusInternalServerError, "np-uid"}
	cases["networkpolicy/managed policy read fails"] = tc{"networkpolicy", npReview(npRequest("plain", npKind, allowAll)), failLive, outcomeError, http.StatusInternalServerError, "np-uid"}
	cases["networkpolicy/rule set to warn"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, allowAll)), warnRule, outcomeAdmitted, 0, ""}
	cases["networkpolicy/no opening"] = tc{"networkpolicy", npReview(npRequest("runners", npKind, denyAll)), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/delete"] = tc{"networkpolicy", npReview(npWrite("runners", "allow-all", admissionv1.Delete, "alice")), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/delete in an excluded namespace"] = tc{"networkpolicy", npReview(npWrite("kube-system", managed.Name, admissionv1.Delete, "alice")), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/managed policy updated"] = tc{"networkpolicy", npReview(npWrite("runners", managed.Name, admissionv1.Update, "alice")), 0, outcomeDenied, 0, ""}
	cases["networkpolicy/managed policy deleted"] = tc{"networkpolicy", npReview(npWrite("runners", managed.Name, admissionv1.Delete, "alice")), 0, outcomeDenied, 0, ""}
	cases["networkpolicy/managed policy deletecollection"] = tc{"networkpolicy", npReview(npWrite("runners", "", admissionv1.Delete, "alice")), 0, outcomeDenied, 0, ""}
	cases["networkpolicy/managed policy deleted in audit"] = tc{"networkpolicy", npReview(npWrite("audited", managed.Name, admissionv1.Delete, "alice")), 0, outcomeAdmitted, 0, ""}
	cases["networkpolicy/managed policy deleted elsewhere"] = tc{"networkpolicy", npReview(npWrite("plain", managed.Name, admissionv1.Delete, "alice")), 0, outcomeSkipped, 0, ""}
	cases["networkpolicy/managed policy written by kestra-guard"] = tc{"networkpolicy", npReview(npWrite("runners", managed.Name, admissionv1.Delete, "system:serviceaccount:kestra-guard:kestra-guard")), 0, outcomeSkipped, 0, ""}

	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := testGuard(t)
			g.Self = "system:serviceaccount:kestra-guard:kestra-guard"
			reg := prometheus.NewRegistry()
			g.Metrics = NewMetrics(reg)
			var logged []string
			g.Log = funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})
			switch c.broken {
			case failAPI:
				g.Reader, g.Live = failingReader{}, failingReader{}
			case panics:
				g.Reader, g.Live = nil, nil
			case failLive:
				g.Live = failingReader{}
			case warnRule:
				cfg := config.Default()
				cfg.Policy.Rules = map[string]policy.Action{policy.MetadataEgressBlockedID: policy.Warn}
				g.Engine = newGuard(t, cfg, Guard{}).Engine
			}
			resp := c.send(g)
			got := gather(t, reg)
			if got.total != 1 || got.outcomes[c.outcome] != 1 || got.latencies != 1 {
				t.Errorf("recorded decisions %v (total %v) and %d latencies; want exactly one %q decision and one latency", got.outcomes, got.total, got.latencies, c.outcome)
			}
			errorLines := 0
			for _, l := range logged {
				if strings.Contains(l, `"error"=`) {
					errorLines++
				}
			}
			if c.outcome != outcomeError {
				if c.outcome != outcomeDenied && (!resp.Allowed || resp.Result != nil && resp.Result.Code >= 400) || errorLines != 0 {
					t.Errorf("response %+v, %d error lines logged; want a decision, no error", resp, errorLines)
				}
				return
			}
			if resp.Allowed || resp.Result == nil || resp.Result.Code != c.code {
				t.Errorf("response allowed=%v %+v; want an error with code %d", resp.Allowed, resp.Result, c.code)
			}
			if errorLines != 1 || !strings.Contains(logged[0], `"webhook"="`+c.webhook+`"`) || !strings.Contains(logged[0], `"uid"="`+c.uid+`"`) {
				t.Errorf("logged %q; want one error line naming the webhook %s and the uid %q", logged, c.webhook, c.uid)
			}
			if c.broken == panics && (len(logged) == 0 || !strings.Contains(logged[0], `"stack"=`)) {
				t.Errorf("the panic was logged without its stack: %q", logged)
			}
		})
	}
}
