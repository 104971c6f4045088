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
	"github.com/kestra-guard/kestra-guard/internal/config"
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
	g.CreateNamespace(t, "runners", map[string]string{config.RunnerLabel: "true"})
	c, base := g.HTTPClient()
	wio := g.Env.WebhookInstallOptions
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(wio.LocalServingCAData)

	t.Run("TLS below 1.2 is refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}) // old TLS on purpose
		if err == nil {
			_ = conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
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
	t.Run("an oversized body is refused", func(t *testing.T) {
		p := badPod("runners", "big")
		p.Annotations = map[string]string{"pad": strings.Repeat("x", 4<<20)}
		code, resp := post(t, c, base+"/validate-pods", review("big", "runners", p, "Pod"))
		if resp != nil && resp.Allowed {
			t.Fatalf("an oversized request was admitted (HTTP %d)", code)
		}
	})
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

// drain reads a response to its end and fails on a status other than 200.
func drain(resp *http.Response) error {
	_, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return err
}
