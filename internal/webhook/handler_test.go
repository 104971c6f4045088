package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// The endpoint middleware answers 400 for a request kestra-guard cannot
// read and 500 when kestra-guard itself fails (an API read), so that the API
// server and its operators see whose fault it is.
func TestEndpointErrorCodes(t *testing.T) {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "etl"}}
	raw, _ := json.Marshal(np)
	npKind := metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	for name, tc := range map[string]struct {
		kind    metav1.GroupVersionKind
		raw     []byte
		failGet bool
		want    int32
	}{
		"wrong kind":               {metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, raw, false, http.StatusBadRequest},
		"no object":                {npKind, nil, false, http.StatusBadRequest},
		"undecodable":              {npKind, []byte(`{"spec": 1}`), false, http.StatusBadRequest},
		"the namespace read fails": {npKind, raw, true, http.StatusInternalServerError},
	} {
		t.Run(name, func(t *testing.T) {
			g := guardOnNamespace(t, tc.failGet)
			resp := NetworkPolicyValidator{Guard: g}.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "u", Kind: tc.kind, Namespace: "etl", Name: "p", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: tc.raw}}})
			if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.want {
				t.Errorf("response = allowed %v, %+v; want code %d", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
}

// The Pod webhooks map errors the same way: the request's fault is 400, a
// failed API read (the namespace) is 500; neither admits.
func TestPodErrorCodes(t *testing.T) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "etl", Labels: map[string]string{"kestra.io/taskrun-id": "x"}}}
	raw, _ := json.Marshal(pod)
	podKind := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	for name, tc := range map[string]struct {
		kind    metav1.GroupVersionKind
		raw     []byte
		failGet bool
		want    int32
	}{
		"wrong kind":               {metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, raw, false, http.StatusBadRequest},
		"no object":                {podKind, nil, false, http.StatusBadRequest},
		"undecodable":              {podKind, []byte(`{"spec": 1}`), false, http.StatusBadRequest},
		"the namespace read fails": {podKind, raw, true, http.StatusInternalServerError},
	} {
		for _, h := range []struct {
			name string
			new  func(*Guard) admission.Handler
		}{
			{"validate", func(g *Guard) admission.Handler { return reference(Validator{Guard: g}) }},
			{"mutate", func(g *Guard) admission.Handler { return reference(Mutator{Guard: g}) }},
		} {
			t.Run(h.name+"/"+name, func(t *testing.T) {
				g := guardOnNamespace(t, tc.failGet)
				resp := h.new(g).Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
					UID: "u", Kind: tc.kind, Namespace: "etl", Name: "p", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: tc.raw}}})
				if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.want {
					t.Errorf("response = allowed %v, %+v; want code %d", resp.Allowed, resp.Result, tc.want)
				}
			})
		}
	}
}

// guardOnNamespace is a Guard whose API holds namespace etl; with failGet,
// every read fails as an unreachable API server would.
func guardOnNamespace(t *testing.T, failGet bool) *Guard {
	t.Helper()
	c := fake.NewClientBuilder().WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "etl"}}).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if failGet {
				return errors.New("connection refused")
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	g := newGuard(t, config.Default(), Guard{Reader: c, Live: c, Writer: c, Log: logr.Discard()})
	return g
}

// newGuard is a Guard serving cfg, compiled as serve compiles it.
func newGuard(t testing.TB, cfg config.Config, g Guard) *Guard {
	t.Helper()
	c, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return NewGuard(c, g)
}

// NewGuard takes the compiled configuration as it is: its engine, scope
// and settings, nothing compiled again.
func TestNewGuardTakesTheCompiledConfiguration(t *testing.T) {
	cfg := config.Default()
	c, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGuard(c, Guard{Log: logr.Discard()})
	if g.Engine != c.Engine || g.scope != c.Scope {
		t.Errorf("NewGuard built its own engine or scope (engine %p, want %p; scope %p, want %p)", g.Engine, c.Engine, g.scope, c.Scope)
	}
}
