package exception

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what exceptions do at admission. Labels are the
// exception's namespace and name (bounded by the exceptions that exist)
// and rule IDs.
type Metrics struct {
	Waived     *prometheus.CounterVec
	Expired    *prometheus.CounterVec
	Unreadable *prometheus.CounterVec
}

// NewMetrics makes the admission counters; the caller registers them.
func NewMetrics() *Metrics {
	return &Metrics{
		Waived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kestra_guard_exception_waivers_total", Help: "Violations waived at admission, by PolicyException and rule.",
		}, []string{"namespace", "name", "rule"}),
		Expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kestra_guard_exception_expired_total", Help: "Admissions where an expired PolicyException matched and no longer waived a violation.",
		}, []string{"namespace", "name"}),
		Unreadable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kestra_guard_exception_unreadable_total", Help: "Admissions that skipped a PolicyException of the Pod's namespace because it cannot be read (it waived nothing; the others applied).",
		}, []string{"namespace", "name"}),
	}
}

// RecordUnreadable counts one admission that skipped an unreadable
// exception.
func (m *Metrics) RecordUnreadable(u Unreadable) {
	if m == nil || m.Unreadable == nil {
		return
	}
	m.Unreadable.WithLabelValues(u.Namespace, u.Name).Inc()
}

// Record counts one admission's outcome.
func (m *Metrics) Record(o Outcome) {
	if m == nil {
		return
	}
	for _, w := range o.Waived {
		m.Waived.WithLabelValues(w.Exception.Namespace, w.Exception.Name, w.Rule).Inc()
	}
	for _, x := range o.Expired {
		m.Expired.WithLabelValues(x.Exception.Namespace, x.Exception.Name).Inc()
	}
}

// NewInUseGauges are the audit's gauges: violations each exception waives
// in the cluster now, and the exceptions that have expired.
func NewInUseGauges() (inUse, expired *prometheus.GaugeVec) {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kestra_guard_exceptions_in_use", Help: "Violations waived by each PolicyException in the last background audit.",
		}, []string{"namespace", "name"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kestra_guard_exceptions_expired", Help: "PolicyExceptions past their expiry at the last background audit (1 each).",
		}, []string{"namespace", "name"})
}

// Use is what one exception waived for one Pod.
type Use struct {
	Exception Ref
	Rules     []string
}

// Summary groups an outcome's waivers by exception, in order, with the
// rules each waived.
func (o Outcome) Summary() []Use {
	var out []Use
	for _, w := range o.Waived {
		i := slices.IndexFunc(out, func(u Use) bool { return u.Exception.String() == w.Exception.String() })
		if i < 0 {
			out = append(out, Use{Exception: w.Exception})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].Rules, w.Rule) {
			out[i].Rules = append(out[i].Rules, w.Rule)
		}
	}
	return out
}
