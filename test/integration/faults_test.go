package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
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
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/internal/server"
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
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
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

// testCAOverlap is server.caOverlap in the rotation test: longer than the
// simulated kubelet takes to put a new Secret on disk (3 s plus polling).
const testCAOverlap = 12 * time.Second

// trustProbe opens a new TLS connection to the server every 50 ms, trusting
// only the CA bundle of the mutating webhook configuration as read just
// before, and verifying the name the API server uses (localhost): what a new
// connection of the API server would see at that moment. The API server
// itself pools connections, so its admissions alone would miss a gap.
type trustProbe struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	leaf       atomic.Pointer[x509.Certificate]
	stop       chan struct{}
	done       chan struct{}
}

func probeTrust(g *framework.Guarded) *trustProbe {
	p := &trustProbe{stop: make(chan struct{}), done: make(chan struct{})}
	addr := "localhost:" + strconv.Itoa(g.Config.Server.Port)
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var mwc admissionregv1.MutatingWebhookConfiguration
			if err := g.Client.Get(context.Background(), client.ObjectKey{Name: g.Config.Server.MutatingName}, &mwc); err != nil {
				continue // the API server, not trust
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(mwc.Webhooks[0].ClientConfig.CABundle) {
				p.fail(fmt.Errorf("the bundle holds no certificate: %q", mwc.Webhooks[0].ClientConfig.CABundle))
				continue
			}
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
			if err != nil {
				p.fail(fmt.Errorf("new connection with the bundle of resourceVersion %s: %w", mwc.ResourceVersion, err))
				continue
			}
			p.leaf.Store(conn.ConnectionState().PeerCertificates[0])
			_ = conn.Close()
			p.ok.Add(1)
		}
	}()
	return p
}

func (p *trustProbe) fail(err error) {
	p.failed.Add(1)
	p.firstErr.CompareAndSwap(nil, err.Error())
}

func (p *trustProbe) check(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	t.Logf("%d new TLS connections trusted the published bundle, %d did not", p.ok.Load(), p.failed.Load())
	if p.failed.Load() > 0 {
		t.Errorf("%d new connections did not trust the served certificate; first: %v", p.failed.Load(), p.firstErr.Load())
	}
}

// bundleOf returns the CAs of the mutating configuration's bundle and its
// publication annotation.
func bundleOf(t *testing.T, g *framework.Guarded) ([]*x509.Certificate, string) {
	t.Helper()
	var mwc admissionregv1.MutatingWebhookConfiguration
	if err := g.Client.Get(context.Background(), client.ObjectKey{Name: g.Config.Server.MutatingName}, &mwc); err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	rest := mwc.Webhooks[0].ClientConfig.CABundle
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out, mwc.Annotations[server.PublishedAnnotation]
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// Serving goes on across certificate rotations under load, with the API
// server's default admission plugins: cert-controller issues a new serving
// certificate, then a brand-new CA (never seen by the API server) and a
// certificate from it. Throughout, a new TLS connection trusting only the
// published bundle accepts the served certificate, and no admission through
// the API server fails. The old CA leaves the bundle server.caOverlap after
// the new one was published: then the API server builds a new client (the
// bundle changed) and so opens new connections, which must trust the new
// certificate.
func TestCertificateRotationUnderLoad(t *testing.T) {
	certs, env := framework.SelfManagedCerts(t.TempDir())
	mod := func(c *config.Config) {
		certs(c)
		c.Server.CAOverlap.Duration = testCAOverlap
	}
	g := framework.RunGuarded(t, nil, mod, env)
	ctx := context.Background()
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	probe := probeTrust(g)
	framework.Eventually(t, func() error {
		if probe.leaf.Load() == nil {
			return errors.New("no certificate served yet")
		}
		return nil
	})
	load := admitUnderLoad(g.Client, "runners")
	// Checked also when a step below fails: what the gap did to trust and
	// to admissions is the evidence.
	defer load.check(t, 20)
	defer probe.check(t)
	time.Sleep(time.Second)

	secret := func() *corev1.Secret {
		var sec corev1.Secret
		if err := g.Client.Get(ctx, client.ObjectKey{Namespace: framework.GuardNamespace, Name: g.Config.Server.CertSecret}, &sec); err != nil {
			t.Fatal(err)
		}
		return &sec
	}

	// The serving certificate, under the same CA.
	before := probe.leaf.Load()
	sec := secret()
	delete(sec.Data, "tls.crt")
	if err := g.Client.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, func() error {
		if probe.leaf.Load().Equal(before) {
			return errors.New("the server still serves the old certificate")
		}
		return nil
	})
	time.Sleep(2 * time.Second)

	// The CA: cert-controller replaces a ca.crt that does not parse with a
	// new CA and a serving certificate from it.
	// envtest's own CA, in the bundle at start, leaves it first.
	var oldCAs []*x509.Certificate
	framework.Eventually(t, func() error {
		if oldCAs, _ = bundleOf(t, g); len(oldCAs) != 1 {
			return fmt.Errorf("before the CA rotation the bundle holds %d CAs, want 1", len(oldCAs))
		}
		return nil
	})
	sec = secret()
	sec.Data["ca.crt"] = []byte("not a certificate")
	if err := g.Client.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	var newCA *x509.Certificate
	framework.Eventually(t, func() error {
		cas, _ := bundleOf(t, g)
		if len(cas) != 2 || cas[0].Equal(oldCAs[0]) || !cas[1].Equal(oldCAs[0]) {
			return fmt.Errorf("the bundle holds %d CAs, want the new and then the old", len(cas))
		}
		newCA = cas[0]
		return nil
	})
	framework.Eventually(t, func() error {
		if err := probe.leaf.Load().CheckSignatureFrom(newCA); err != nil {
			return fmt.Errorf("the server still serves a certificate of the old CA: %w", err)
		}
		return nil
	})
	var dropped time.Time
	framework.Eventually(t, func() error {
		if cas, _ := bundleOf(t, g); len(cas) != 1 || !cas[0].Equal(newCA) {
			return fmt.Errorf("the bundle holds %d CAs, want only the new one after %s", len(cas), testCAOverlap)
		}
		dropped = time.Now()
		return nil
	})
	_, stamp := bundleOf(t, g)
	published, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		t.Fatalf("annotation %s: %v", server.PublishedAnnotation, err)
	}
	// The stamp has whole seconds; the injector polls every second.
	if kept := dropped.Sub(published); kept < testCAOverlap-time.Second || kept > testCAOverlap+5*time.Second {
		t.Errorf("the old CA was kept %s after the new one was published, want server.caOverlap (%s)", kept.Round(100*time.Millisecond), testCAOverlap)
	}
	time.Sleep(3 * time.Second) // admissions on the API server's new connections
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
					l.firstErr.CompareAndSwap(nil, err.Error()) // one type: errors differ in type
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
