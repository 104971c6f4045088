package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// certPEM is a self-signed certificate valid until notAfter, PEM-encoded.
func certPEM(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kestra-guard"},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The metric is the notAfter of the first certificate in tls.crt (the
// serving one, before its CA), follows the file when it is rotated, and is
// absent, without failing the scrape, while there is no certificate.
func TestCertExpiry(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(CertExpiry(dir))
	value := func() (float64, int) {
		t.Helper()
		n, err := testutil.GatherAndCount(reg)
		if err != nil {
			t.Fatalf("gathering: %v", err)
		}
		if n == 0 {
			return 0, 0
		}
		mfs, _ := reg.Gather()
		return mfs[0].Metric[0].GetGauge().GetValue(), n
	}
	if _, n := value(); n != 0 {
		t.Errorf("no tls.crt: %d samples; want none", n)
	}
	crt := filepath.Join(dir, "tls.crt")
	if err := os.WriteFile(crt, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, n := value(); n != 0 {
		t.Errorf("tls.crt holds no PEM: %d samples; want none", n)
	}
	leaf := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	ca := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	key := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	if err := os.WriteFile(crt, append(append(key, certPEM(t, leaf)...), certPEM(t, ca)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, n := value(); n != 1 || v != float64(leaf.Unix()) {
		t.Errorf("leaf then CA: %v (%d samples); want the leaf's notAfter %v", v, n, float64(leaf.Unix()))
	}
	renewed := leaf.Add(90 * 24 * time.Hour)
	if err := os.WriteFile(crt, certPEM(t, renewed), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(); v != float64(renewed.Unix()) {
		t.Errorf("after rotation: %v; want %v", v, float64(renewed.Unix()))
	}
}
