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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// caOverlap is how long a replaced CA stays in the webhook configurations
// after its successor appears: long enough for the kubelet to deliver the new
// serving certificate to every replica (about a minute) several times over.
const caOverlap = 15 * time.Minute

// caInjector keeps the CA bundle of both webhook configurations current
// with the self-managed CA in the certificate Secret, and keeps the CA it
// replaces there for caOverlap, so that replicas still serving a certificate
// of the old CA are trusted until theirs is renewed. (cert-controller would
// replace the bundle at once; it is left to issue and rotate certificates.)
type caInjector struct {
	client     client.Client
	secret     types.NamespacedName
	mutating   string
	validating string
	log        logr.Logger
	injected   atomic.Bool
}

func (c *caInjector) NeedLeaderElection() bool { return false }

func (c *caInjector) Start(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := c.reconcile(ctx); err != nil {
			c.log.Error(err, "injecting the CA bundle")
		} else {
			c.injected.Store(true)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *caInjector) reconcile(ctx context.Context) error {
	var sec corev1.Secret
	if err := c.client.Get(ctx, c.secret, &sec); err != nil {
		return fmt.Errorf("reading Secret %s: %w", c.secret, err)
	}
	current := sec.Data["ca.crt"]
	if len(current) == 0 {
		return fmt.Errorf("secret %s has no ca.crt yet", c.secret)
	}
	if err := c.update(ctx, &admissionregv1.MutatingWebhookConfiguration{}, c.mutating, current); err != nil {
		return err
	}
	return c.update(ctx, &admissionregv1.ValidatingWebhookConfiguration{}, c.validating, current)
}

// update sets the bundle of every webhook of the named configuration.
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
		changed := false
		for _, b := range bundles {
			if want := Bundle(current, *b, time.Now()); !bytes.Equal(want, *b) {
				*b, changed = want, true
			}
		}
		if !changed {
			return nil
		}
		c.log.Info("updated the CA bundle", "configuration", name)
		return c.client.Update(ctx, obj)
	})
}

// Bundle is the CA bundle to publish: the current CA, then each CA of the
// old bundle that is a different, unexpired certificate and was replaced
// less than caOverlap ago (the current CA is dated by cert-controller an
// hour before it was issued).
func Bundle(current, old []byte, now time.Time) []byte {
	cur := firstCert(current)
	out := bytes.TrimSpace(current)
	if cur == nil {
		return append(out, '\n')
	}
	issued := cur.NotBefore.Add(time.Hour)
	for _, c := range certs(old) {
		if c.Equal(cur) || now.After(c.NotAfter) || now.After(issued.Add(caOverlap)) {
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
