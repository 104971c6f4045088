package server

import (
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kestra-guard/kestra-guard/internal/exception"
	kgwebhook "github.com/kestra-guard/kestra-guard/internal/webhook"
)

// exceptionMetrics registers the PolicyException counters with the
// manager's registry (once per process).
func exceptionMetrics() *exception.Metrics {
	m := exception.NewMetrics()
	m.Waived = kgwebhook.Register(ctrlmetrics.Registry, m.Waived)
	m.Expired = kgwebhook.Register(ctrlmetrics.Registry, m.Expired)
	return m
}
