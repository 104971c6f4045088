package server

import (
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kestra-guard/kestra-guard/internal/exception"
	kgwebhook "github.com/kestra-guard/kestra-guard/internal/webhook"
)

// exceptionMetrics registers the PolicyException counters with the
// manager's registry (once per process).
func exceptionMetrics() *exception.Metrics {
	m := exception.NewMetrics()
	m.Waived = kgwebhook.Register(ctrlmetrics.Registry, m.Waived)
	m.Expired = kgwebhook.Register(ctrlmetrics.Registry, m.Expired)
	m.Unreadable = kgwebhook.Register(ctrlmetrics.Registry, m.Unreadable)
	return m
}

// exceptionGauges registers the audit's PolicyException gauges.
func exceptionGauges() (inUse, expired *prometheus.GaugeVec) {
	inUse, expired = exception.NewInUseGauges()
	return kgwebhook.Register(ctrlmetrics.Registry, inUse), kgwebhook.Register(ctrlmetrics.Registry, expired)
}
