package server

import (
	"context"
	"strings"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"math/big"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"slices"
	"testing"
	"time"
)

func ca(t *testing.T, name string, notBefore time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: notBefore,
		NotAfter: notBefore.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func names(b []byte) []string {
	var out []string
	for _, c := range certs(b) {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// The bundle keeps the replaced CA until the time it is given (publication
// of the new CA plus server.caOverlap), then drops it; expired CAs go at once.
func TestBundleKeepsTheReplacedCAUntilTheOverlapEnds(t *testing.T) {
	now := time.Now()
	old := ca(t, "old", now.Add(-5*time.Hour))
	cur := ca(t, "new", now) // the CAs' own dates play no part
	until := now.Add(15 * time.Minute)
	for name, tc := range map[string]struct {
		current, old []byte
		at           time.Time
		want         []string
	}{
		"first injection":              {cur, nil, now, []string{"new"}},
		"just rotated":                 {cur, old, now, []string{"new", "old"}},
		"already published":            {cur, append(append([]byte{}, cur...), old...), now.Add(time.Minute), []string{"new", "old"}},
		"a second before the end":      {cur, old, until.Add(-time.Second), []string{"new", "old"}},
		"at the end":                   {cur, old, until, []string{"new"}},
		"after the overlap":            {cur, old, until.Add(time.Minute), []string{"new"}},
		"an expired old CA is dropped": {cur, old, now.Add(20 * time.Hour).Add(-time.Minute), []string{"new"}},
	} {
		t.Run(name, func(t *testing.T) {
			keep := until
			if name == "an expired old CA is dropped" {
				keep = tc.at.Add(time.Hour)
			}
			got := names(Bundle(tc.current, tc.old, keep, tc.at))
			if !slices.Equal(got, tc.want) {
				t.Errorf("bundle = %v, want %v", got, tc.want)
			}
		})
	}
}

// The publication time is the recorded one only while every bundle already
// starts with the current CA; a new CA or a lost record starts it again.
func TestPublishedStartsWithTheNewCA(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	earlier := now.Add(-10 * time.Minute)
	old := ca(t, "old", now.Add(-5*time.Hour))
	cur := ca(t, "new", now)
	both := append(append([]byte{}, cur...), old...)
	stamp := earlier.UTC().Format(time.RFC3339)
	for name, tc := range map[string]struct {
		bundles  [][]byte
		recorded string
		want     time.Time
	}{
		"already published":             {[][]byte{both, both}, stamp, earlier},
		"the CA is new":                 {[][]byte{old, old}, stamp, now},
		"one webhook still has the old": {[][]byte{both, old}, stamp, now},
		"no record":                     {[][]byte{both}, "", now},
		"a record that does not parse":  {[][]byte{both}, "yesterday", now},
		"a record in the future":        {[][]byte{both}, now.Add(time.Hour).UTC().Format(time.RFC3339), now},
		"no webhooks":                   {nil, stamp, now},
	} {
		t.Run(name, func(t *testing.T) {
			var ptrs []*[]byte
			for i := range tc.bundles {
				ptrs = append(ptrs, &tc.bundles[i])
			}
			if got := Published(cur, ptrs, tc.recorded, now); !got.Equal(tc.want) {
				t.Errorf("published = %s, want %s", got, tc.want)
			}
		})
	}
}

// A ca.crt that does not parse (cert-controller replacing a damaged CA)
// never reaches the bundle: the CA still serving stays trusted.
func TestInjectorKeepsTheBundleWhileTheSecretHoldsNoCA(t *testing.T) {
	old := ca(t, "old", time.Now().Add(-time.Hour))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cert"}, Data: map[string][]byte{"ca.crt": []byte("not a certificate")}}
	hook := func(name string) admissionregv1.ValidatingWebhook {
		return admissionregv1.ValidatingWebhook{Name: name, ClientConfig: admissionregv1.WebhookClientConfig{CABundle: old}}
	}
	mwc := &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		Webhooks: []admissionregv1.MutatingWebhook{{Name: "m.example.com", ClientConfig: admissionregv1.WebhookClientConfig{CABundle: old}}}}
	vwc := &admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		Webhooks: []admissionregv1.ValidatingWebhook{hook("v.example.com")}}
	c := fake.NewClientBuilder().WithObjects(sec, mwc, vwc).Build()
	inj := &caInjector{client: c, secret: types.NamespacedName{Namespace: "ns", Name: "cert"}, mutating: "guard", validating: "guard", overlap: time.Minute, log: logr.Discard()}
	err := inj.reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("reconcile = %v, want an error naming ca.crt", err)
	}
	var got admissionregv1.MutatingWebhookConfiguration
	if err := c.Get(context.Background(), client.ObjectKey{Name: "guard"}, &got); err != nil {
		t.Fatal(err)
	}
	if n := names(got.Webhooks[0].ClientConfig.CABundle); !slices.Equal(n, []string{"old"}) {
		t.Errorf("bundle = %v, want the old CA kept", n)
	}

	// Once a new CA is there, both are published with the time.
	sec.Data["ca.crt"] = ca(t, "new", time.Now())
	if err := c.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	if err := inj.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "guard"}, &got); err != nil {
		t.Fatal(err)
	}
	if n := names(got.Webhooks[0].ClientConfig.CABundle); !slices.Equal(n, []string{"new", "old"}) {
		t.Errorf("bundle = %v, want new and old", n)
	}
	if _, err := time.Parse(time.RFC3339, got.Annotations[PublishedAnnotation]); err != nil {
		t.Errorf("annotation %s: %v", PublishedAnnotation, err)
	}
}
