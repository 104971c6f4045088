package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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

// The bundle keeps the replaced CA for caOverlap after its successor was
// issued (cert-controller dates a CA an hour before it issues it), then drops it.
func TestBundleKeepsTheReplacedCAForAWhile(t *testing.T) {
	now := time.Now()
	old := ca(t, "old", now.Add(-5*time.Hour))
	cur := ca(t, "new", now.Add(-time.Hour)) // issued now
	names := func(b []byte) []string {
		var out []string
		for _, c := range certs(b) {
			out = append(out, c.Subject.CommonName)
		}
		return out
	}
	for name, tc := range map[string]struct {
		current, old []byte
		at           time.Time
		want         []string
	}{
		"first injection":              {cur, nil, now, []string{"new"}},
		"just rotated":                 {cur, old, now.Add(time.Minute), []string{"new", "old"}},
		"already published":            {cur, append(append([]byte{}, cur...), old...), now.Add(time.Minute), []string{"new", "old"}},
		"after the overlap":            {cur, old, now.Add(caOverlap + time.Minute), []string{"new"}},
		"an expired old CA is dropped": {cur, old, now.Add(20 * time.Hour), []string{"new"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := names(Bundle(tc.current, tc.old, tc.at))
			if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
				t.Errorf("bundle = %v, want %v", got, tc.want)
			}
		})
	}
}
