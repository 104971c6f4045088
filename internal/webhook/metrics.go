package webhook

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are kestra-guard's Prometheus metrics. Labels are bounded: rule
// IDs, actions, modes and outcomes; never a Pod or namespace name.
type Metrics struct {
	decisions  *prometheus.CounterVec
	violations *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kestra_guard_admission_decisions_total", Help: "Admission decisions by webhook and outcome.",
		}, []string{"webhook", "outcome"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kestra_guard_violations_total", Help: "Rule violations seen at admission, by rule, action and mode.",
		}, []string{"rule", "action", "mode"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kestra_guard_admission_duration_seconds", Help: "Time kestra-guard spent deciding a request.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"webhook"}),
	}
	if reg != nil {
		m.decisions = Register(reg, m.decisions)
		m.violations = Register(reg, m.violations)
		m.latency = Register(reg, m.latency)
	}
	// Errors start at 0: the first error of a process is then an increase
	// (the KestraGuardWebhookErrors alert), not a new series.
	for _, w := range []string{"mutate", "validate", "networkpolicy"} {
		m.decisions.WithLabelValues(w, "error")
	}
	return m
}

// Register registers c, or returns the collector already registered under
// its name (several servers in one test process share the registry).
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *Metrics) decision(webhook, outcome string, start time.Time) {
	m.decisions.WithLabelValues(webhook, outcome).Inc()
	m.latency.WithLabelValues(webhook).Observe(time.Since(start).Seconds())
}

func (m *Metrics) violation(rule, action, mode string) {
	m.violations.WithLabelValues(rule, action, mode).Inc()
}
