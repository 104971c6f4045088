package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PublishedAnnotation, on each webhook configuration, records when the CA
// first in its bundle was first published there (RFC 3339). The CA it
// replaced is kept in the bundle until this time plus server.caOverlap.
const PublishedAnnotation = "kestra-guard.io/ca-published-at"

// caInjector keeps the CA bundle of both webhook configurations current
// with the self-managed CA in the certificate Secret, and keeps the CA it
// replaces there for overlap (server.caOverlap) after the new one is
// published, so that replicas still serving a certificate of the old CA are
// trusted until theirs is renewed. (cert-controller would replace the
// bundle at once; it is left to issue and rotate certificates.)
type caInjector struct {
	client     client.Client
	secret     types.NamespacedName
	mutating   string
	validating string
	overlap    time.Duration
	log        logr.Logger
	injected   atomic.Bool
	// informers, when set, wake the injector when the Secret or a webhook
	// configuration changes; without them (unit tests) it checks every resync.
	informers cache.Informers
	// resync is the longest wait between two checks (default 5m).
	resync time.Duration
	// next is when the bundle must change without an event: the end of the
	// overlap, when the replaced CA leaves it (zero: no such time).
	next atomic.Int64
}

// Runs on every replica, since each one is ready only once the bundle is
// published; the updates are idempotent and retried on conflict.
func (c *caInjector) NeedLeaderElection() bool { return false }

// Start checks the bundle at start, then on each change of the Secret or of
// a webhook configuration, at the end of the overlap, after an error (1s
// later), and every resync.
func (c *caInjector) Start(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	if err := c.watch(ctx, wake); err != nil {
		return err
	}
	resync := c.resync
	if resync <= 0 {
		resync = 5 * time.Minute
	}
	for {
		delay := resync
		if err := c.reconcile(ctx); err != nil {
			c.log.Error(err, "injecting the CA bundle")
			delay = time.Second
		} else {
			c.injected.Store(true)
			if n := c.next.Load(); n != 0 {
				delay = min(delay, max(time.Until(time.Unix(0, n)), 0)+time.Second)
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// watch sends on wake when one of the objects the bundle depends on changes.
func (c *caInjector) watch(ctx context.Context, wake chan<- struct{}) error {
	if c.informers == nil {
		return nil
	}
	for _, w := range []struct {
		obj       client.Object
		namespace string
		name      string
	}{
		{&corev1.Secret{}, c.secret.Namespace, c.secret.Name},
		{&admissionregv1.MutatingWebhookConfiguration{}, "", c.mutating},
		{&admissionregv1.ValidatingWebhookConfiguration{}, "", c.validating},
	} {
		inf, err := c.informers.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("watching %T for the CA bundle: %w", w.obj, err)
		}
		ours := func(o any) bool {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			m, ok := o.(metav1.Object)
			return ok && m.GetName() == w.name && m.GetNamespace() == w.namespace
		}
		notify := func(o any) {
			if ours(o) {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify,
		}); err != nil {
			return fmt.Errorf("watching %T for the CA bundle: %w", w.obj, err)
		}
	}
	return nil
}

// wakeAt asks for a check at t, unless one is due sooner.
func (c *caInjector) wakeAt(t time.Time) {
	if n := c.next.Load(); n == 0 || t.UnixNano() < n {
		c.next.Store(t.UnixNano())
	}
}

func (c *caInjector) reconcile(ctx context.Context) error {
	c.next.Store(0)
	var sec corev1.Secret
	if err := c.client.Get(ctx, c.secret, &sec); err != nil {
		return fmt.Errorf("reading Secret %s: %w", c.secret, err)
	}
	current := sec.Data["ca.crt"]
	// A Secret whose ca.crt does not parse (being replaced, or damaged) must
	// not reach the bundle: publishing it would drop the CA still serving.
	if firstCert(current) == nil {
		return fmt.Errorf("secret %s: ca.crt: expected a PEM certificate, found %d bytes that are none", c.secret, len(current))
	}
	if err := c.update(ctx, &admissionregv1.MutatingWebhookConfiguration{}, c.mutating, current); err != nil {
		return err
	}
	return c.update(ctx, &admissionregv1.ValidatingWebhookConfiguration{}, c.validating, current)
}

// update sets the bundle of every webhook of the named configuration, and
// the time the current CA was first published there.
func (c *caInjector) update(ctx context.Context, obj client.Object, name string, current []byte) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.client.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
			return fmt.Errorf("reading %T %s: %w", obj, name, err)
		}
		var bundles []*[]byte
		switch o := obj.(type) {
		case *admissionregv1.MutatingWebhookConfiguration:
			for i := range o.Webhooks {
				bundles = append(bundles, &o.Webhooks[i].ClientConfig.CABundle)
			}
		case *admissionregv1.ValidatingWebhookConfiguration:
			for i := range o.Webhooks {
				bundles = append(bundles, &o.Webhooks[i].ClientConfig.CABundle)
			}
		}
		now := time.Now()
		published := Published(current, bundles, obj.GetAnnotations()[PublishedAnnotation], now)
		changed := false
		for _, b := range bundles {
			want := Bundle(current, *b, published.Add(c.overlap), now)
			if !bytes.Equal(want, *b) {
				*b, changed = want, true
			}
			if len(certs(want)) > 1 {
				c.wakeAt(published.Add(c.overlap))
			}
		}
		stamp := published.UTC().Format(time.RFC3339)
		if obj.GetAnnotations()[PublishedAnnotation] != stamp {
			ann := obj.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[PublishedAnnotation] = stamp
			obj.SetAnnotations(ann)
			changed = true
		}
		if !changed {
			return nil
		}
		c.log.Info("updated the CA bundle", "configuration", name, "publishedAt", stamp, "oldCAsUntil", published.Add(c.overlap).UTC().Format(time.RFC3339))
		return c.client.Update(ctx, obj)
	})
}

// Published is when the current CA was first published in the bundles: the
// recorded time when every bundle already starts with it and the record
// parses, else now (a new CA, or a record lost: the overlap starts again,
// which keeps old CAs longer, never shorter).
func Published(current []byte, bundles []*[]byte, recorded string, now time.Time) time.Time {
	cur := firstCert(current)
	at, err := time.Parse(time.RFC3339, recorded)
	if err != nil || cur == nil || len(bundles) == 0 || at.After(now) {
		return now
	}
	for _, b := range bundles {
		if first := firstCert(*b); first == nil || !first.Equal(cur) {
			return now
		}
	}
	return at
}

// Bundle is the CA bundle to publish: the current CA, then each CA of the
// old bundle that is a different, unexpired certificate, as long as now is
// before keepOldUntil (the time the current CA was first published plus
// server.caOverlap).
func Bundle(current, old []byte, keepOldUntil, now time.Time) []byte {
	cur := firstCert(current)
	out := bytes.TrimSpace(current)
	if cur == nil {
		return append(out, '\n')
	}
	for _, c := range certs(old) {
		if c.Equal(cur) || now.After(c.NotAfter) || !now.Before(keepOldUntil) {
			continue
		}
		out = append(out, '\n')
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		out = bytes.TrimSpace(out)
	}
	return append(out, '\n')
}

func certs(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func firstCert(b []byte) *x509.Certificate {
	if cs := certs(b); len(cs) > 0 {
		return cs[0]
	}
	return nil
}
