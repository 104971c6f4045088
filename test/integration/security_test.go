package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// review is an AdmissionReview for a Pod, as the API server sends it.
func review(uid string, ns string, obj any, kind string) []byte {
	raw, _ := json.Marshal(obj)
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: strings.ToLower(kind) + "s"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	b, _ := json.Marshal(r)
	return b
}

func post(t testing.TB, c *http.Client, url string, body []byte) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("posting to %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var out admissionv1.AdmissionReview
	if json.Unmarshal(b, &out) != nil || out.Response == nil {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, out.Response
}

func TestServerSecurity(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	c, base := g.HTTPClient()
	wio := g.Env.WebhookInstallOptions
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(wio.LocalServingCAData)

	// The server's MinVersion is TLS 1.2. Go's server would default to 1.2
	// as well, so the test sets nothing on the client side but the versions
	// it offers, and tells a refused version from any other failure.
	for name, tc := range map[string]struct {
		min, max uint16
		ok       bool
	}{
		"TLS 1.0 and 1.1 only are refused": {tls.VersionTLS10, tls.VersionTLS11, false},
		"TLS 1.1 only is refused":          {tls.VersionTLS11, tls.VersionTLS11, false},
		"TLS 1.2 only is served":           {tls.VersionTLS12, tls.VersionTLS12, true},
		"TLS 1.3 is served":                {tls.VersionTLS13, tls.VersionTLS13, true},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tc.min, MaxVersion: tc.max}) // old TLS on purpose
			switch {
			case tc.ok && err != nil:
				t.Fatalf("handshake failed: %v", err)
			case tc.ok:
				_ = conn.Close()
			case err == nil:
				v := conn.ConnectionState().Version
				_ = conn.Close()
				t.Fatalf("handshake succeeded with %s", tls.VersionName(v))
			case !strings.Contains(err.Error(), "protocol version"):
				t.Fatalf("handshake failed, but not on the protocol version: %v", err)
			}
		})
	}
	t.Run("HTTP/2 is off", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("negotiated %q", p)
		}
	})
	// A hardened Pod, which every rule admits, padded so that the review is
	// exactly the limit, then one byte over: the limit and nothing else
	// refuses it, with HTTP 413, whether the length is announced or not.
	limit := int(g.Config.Server.MaxBodyBytes)
	sized := func(n int) []byte {
		p := framework.Gated(g.Config, hardenedPod("runners", "big"))
		p.Annotations = map[string]string{"pad": ""}
		b := review("big", "runners", p, "Pod")
		p.Annotations["pad"] = strings.Repeat("x", n-len(b))
		b = review("big", "runners", p, "Pod")
		if len(b) != n {
			t.Fatalf("padded review is %d bytes, want %d", len(b), n)
		}
		return b
	}
	atLimit, overLimit := sized(limit), sized(limit+1)
	// The hardened Pod passes metadata-egress-blocked only once the
	// controller's managed NetworkPolicy for "runners" is in the webhook's
	// cache, which may take a moment after the namespace is created; the
	// reviews below are posted once that is so.
	ready := review("ready", "runners", framework.Gated(g.Config, hardenedPod("runners", "ready")), "Pod")
	framework.Eventually(t, func() error {
		if _, resp := post(t, c, base+"/validate-pods", ready); resp == nil || !resp.Allowed {
			return fmt.Errorf("the hardened Pod is not admitted yet: %+v", resp)
		}
		return nil
	})
	for name, tc := range map[string]struct {
		body    []byte
		chunked bool
		code    int
	}{
		"a hardened Pod at the body limit is admitted":              {atLimit, false, http.StatusOK},
		"a hardened Pod at the body limit, chunked, is admitted":    {atLimit, true, http.StatusOK},
		"a hardened Pod one byte over the limit gets 413":           {overLimit, false, http.StatusRequestEntityTooLarge},
		"a hardened Pod one byte over the limit, chunked, gets 413": {overLimit, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp, err := c.Post(base+"/validate-pods", "application/json", body)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d: %.200s", resp.StatusCode, tc.code, b)
			}
			if tc.code != http.StatusOK {
				return
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(b, &out); err != nil || out.Response == nil || !out.Response.Allowed {
				t.Fatalf("want admitted, got %.300s", b)
			}
		})
	}
	for name, body := range map[string][]byte{
		"malformed JSON":   []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{`),
		"unexpected kind":  review("cm", "runners", map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}, "ConfigMap"),
		"missing object":   []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"namespace":"runners","operation":"CREATE"}}`),
		"object not a Pod": review("np", "runners", []int{1, 2}, "Pod"),
	} {
		t.Run(name+" is refused with a clear error", func(t *testing.T) {
			for _, path := range []string{"/validate-pods", "/mutate-pods"} {
				code, resp := post(t, c, base+path, body)
				if resp != nil && resp.Allowed {
					t.Errorf("%s: admitted (HTTP %d)", path, code)
				}
				if resp != nil && (resp.Result == nil || resp.Result.Message == "") {
					t.Errorf("%s: refused without a message", path)
				}
			}
		})
	}

	t.Run("logs hold no env value or secret", func(t *testing.T) {
		if err := g.StopServer(); err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		g.LogOutput = &logs
		g.StartServer()
		if err := g.WaitServing(); err != nil {
			t.Fatal(err)
		}
		p := badPod("runners", "secretive")
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2-s3cr3t"}, {Name: "URL", Value: "http://169.254.169.254/?token=tok-s3cr3t"}}
		if err := g.Client.Create(context.Background(), p); !apierrors.IsForbidden(err) {
			t.Fatalf("want denied, got %v", err)
		}
		out := logs.String()
		if !strings.Contains(out, `"name":"secretive"`) || !strings.Contains(out, `"msg":"denied"`) {
			t.Fatalf("no decision line for the Pod in the logs:\n%s", out)
		}
		for _, secret := range []string{"hunter2-s3cr3t", "tok-s3cr3t"} {
			if strings.Contains(out, secret) {
				t.Errorf("the logs hold %q", secret)
			}
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The chart's RBAC gives kestra-guard's service account no Secret outside
// its namespace and no Pod write.
func TestServiceAccountLeastPrivilege(t *testing.T) {
	cp := framework.RunControlPlane(t)
	ctx := context.Background()
	cp.CreateNamespace(t, framework.GuardNamespace, nil)
	cp.CreateNamespace(t, "apps", nil)
	objs, err := chart.Render("kestra-guard", framework.GuardNamespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret":
			if err := framework.Apply(ctx, cp.Client, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cp.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "db"}}); err != nil {
		t.Fatal(err)
	}
	rc := rest.CopyConfig(cp.Config)
	rc.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + framework.GuardNamespace + ":kestra-guard"}
	sa, err := client.New(rc, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]error{
		"get a Secret in another namespace": sa.Get(ctx, client.ObjectKey{Namespace: "apps", Name: "db"}, &corev1.Secret{}),
		"list Secrets cluster-wide":         sa.List(ctx, &corev1.SecretList{}),
		"create a Pod":                      sa.Create(ctx, plainPod("apps", "p", nil)),
		"delete a namespace":                sa.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}),
	}
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("the service account may %s: %v", what, err)
		}
	}
	var own corev1.Secret
	if err := sa.Get(ctx, client.ObjectKey{Namespace: framework.GuardNamespace, Name: "kestra-guard-cert"}, &own); err != nil {
		t.Errorf("the service account cannot read its own certificate Secret: %v", err)
	}
	own.Data = map[string][]byte{"tls.crt": []byte("x")}
	if err := sa.Update(ctx, &own); err != nil {
		t.Errorf("the service account cannot update its own certificate Secret: %v", err)
	}
}
