package integration

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func plainPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

// outageExpectations checks that, while kestra-guard cannot answer, task
// runners are refused and nothing else is touched.
func outageExpectations(t *testing.T, g *framework.Guarded, want string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		pod   *corev1.Pod
		admit bool
	}{
		{"a Pod in a runner namespace", plainPod("runners", "r", nil), false},
		{"a labelled task runner elsewhere", plainPod("apps", "t", map[string]string{"kestra.io/taskrun-id": "x"}), false},
		{"an ordinary Pod", plainPod("apps", "web", map[string]string{"app": "web"}), true},
		{"a kube-system Pod, even labelled", plainPod("kube-system", "dns", map[string]string{"kestra.io/taskrun-id": "x"}), true},
	} {
		err := g.Client.Create(ctx, c.pod)
		switch {
		case c.admit && err != nil:
			t.Errorf("%s: refused during the outage: %v", c.name, err)
		case !c.admit && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: want refused with %q, got %v", c.name, want, err)
		}
	}
}

func outageSetup(t *testing.T) *framework.Guarded {
	g := framework.RunGuarded(t, map[string]any{"webhook": map[string]any{"timeoutSeconds": 2}}, nil)
	g.CreateNamespace(t, "runners", map[string]string{config.RunnerLabel: "true"})
	g.CreateNamespace(t, "apps", nil)
	if err := g.StopServer(); err != nil {
		t.Fatal(err)
	}
	return g
}

// kestra-guard down with failurePolicy Fail: task runners are refused, all
// other Pods (and kube-system) are not affected.
func TestOutageFailsClosedForTaskRunnersOnly(t *testing.T) {
	g := outageSetup(t)
	outageExpectations(t, g, "failed calling webhook")
}

// kestra-guard slower than the webhook timeout: refused, never admitted.
func TestSlowWebhookIsRefused(t *testing.T) {
	g := outageSetup(t)
	wio := g.Env.WebhookInstallOptions
	cert, err := tls.LoadX509KeyPair(filepath.Join(wio.LocalServingCertDir, "tls.crt"), filepath.Join(wio.LocalServingCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(4 * time.Second): // twice the timeout
		case <-r.Context().Done():
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	})}
	go func() { _ = slow.Serve(ln) }()
	t.Cleanup(func() { _ = slow.Close() })
	outageExpectations(t, g, "deadline")
}

// Serving goes on across a certificate rotation under load: cert-controller
// issues a new serving certificate, it reaches the disk, the server reloads
// it without restart, and no admission fails.
func TestCertificateRotationUnderLoad(t *testing.T) {
	mod, env := framework.SelfManagedCerts(t.TempDir())
	g := framework.RunGuarded(t, nil, mod, env)
	ctx := context.Background()
	g.CreateNamespace(t, "runners", map[string]string{config.RunnerLabel: "true"})
	served := func() string {
		conn, err := tls.Dial("tcp", "localhost:"+strconv.Itoa(g.Config.Server.Port), &tls.Config{InsecureSkipVerify: true}) // only reads the served certificate
		if err != nil {
			return ""
		}
		defer func() { _ = conn.Close() }()
		sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
		return hex.EncodeToString(sum[:])
	}
	before := served()
	if before == "" {
		t.Fatal("no certificate served")
	}

	load := admitUnderLoad(g.Client, "runners")
	time.Sleep(time.Second)
	var sec corev1.Secret
	if err := g.Client.Get(ctx, client.ObjectKey{Namespace: framework.GuardNamespace, Name: g.Config.Server.CertSecret}, &sec); err != nil {
		t.Fatal(err)
	}
	delete(sec.Data, "tls.crt") // cert-controller issues a new serving certificate under the same CA
	if err := g.Client.Update(ctx, &sec); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, func() error {
		if after := served(); after == before || after == "" {
			return errors.New("the server still serves the old certificate")
		}
		return nil
	})
	time.Sleep(2 * time.Second)

	// Then the CA itself: cert-controller issues a new CA and serving
	// certificate; the bundle holds both CAs while the new certificate
	// reaches the disk, so no admission fails either.
	before = served()
	if err := g.Client.Get(ctx, client.ObjectKey{Namespace: framework.GuardNamespace, Name: g.Config.Server.CertSecret}, &sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["ca.crt"] = []byte("not a certificate")
	if err := g.Client.Update(ctx, &sec); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, func() error {
		var mwc admissionregv1.MutatingWebhookConfiguration
		if err := g.Client.Get(ctx, client.ObjectKey{Name: g.Config.Server.MutatingName}, &mwc); err != nil {
			return err
		}
		if n := strings.Count(string(mwc.Webhooks[0].ClientConfig.CABundle), "BEGIN CERTIFICATE"); n < 2 {
			return fmt.Errorf("the bundle holds %d CAs, want the new and the old", n)
		}
		if after := served(); after == before || after == "" {
			return errors.New("the server still serves the certificate of the old CA")
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	load.check(t, 20)
}

// load admits dry-run task runners from four clients until checked.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func admitUnderLoad(c client.Client, ns string) *load {
	l := &load{stop: make(chan struct{})}
	for w := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := c.Create(context.Background(), hardenedPod(ns, fmt.Sprintf("w%d-%d", w, i)), client.DryRunAll); err != nil {
					l.failed.Add(1)
					// One concrete type, as atomic.Value requires: errors of two
					// types would panic instead of failing the test.
					l.firstErr.CompareAndSwap(nil, fmt.Errorf("%w", err))
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

// check stops the load and fails the test on any failed admission, or on
// fewer than min admissions.
func (l *load) check(t *testing.T, min int64) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%d admissions under load, %d failed", l.ok.Load(), l.failed.Load())
	if l.failed.Load() > 0 {
		t.Errorf("%d admissions failed; first: %v", l.failed.Load(), l.firstErr.Load())
	}
	if l.ok.Load() < min {
		t.Errorf("only %d admissions under load", l.ok.Load())
	}
}
