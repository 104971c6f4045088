package server

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// certExpiry exports the expiry of the serving certificate, read from
// CertDir/tls.crt at each scrape: the file the webhook server reloads, kept
// there by cert-controller (certMode self), cert-manager or the kubelet from
// a Secret alike. While the file is missing or holds no certificate there is
// no sample (an error would fail the whole scrape).
type certExpiry struct {
	path string
	desc *prometheus.Desc
}

// CertExpiry is kestra_guard_serving_certificate_expiry_timestamp_seconds
// for the certificate in certDir.
func CertExpiry(certDir string) prometheus.Collector {
	return &certExpiry{
		path: filepath.Join(certDir, "tls.crt"),
		desc: prometheus.NewDesc("kestra_guard_serving_certificate_expiry_timestamp_seconds",
			"Expiry (notAfter, Unix time) of the webhook's serving certificate, the first in <certDir>/tls.crt.", nil, nil),
	}
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()))
		return
	}
}

// registerCertExpiry registers CertExpiry(certDir) with the manager's
// registry. A later server in the same process (tests) replaces the
// collector of an earlier one: the registry holds one per metric name.
func registerCertExpiry(certDir string) error {
	c := CertExpiry(certDir)
	ctrlmetrics.Registry.Unregister(c)
	if err := ctrlmetrics.Registry.Register(c); err != nil {
		return fmt.Errorf("registering the certificate expiry metric: %w", err)
	}
	return nil
}
