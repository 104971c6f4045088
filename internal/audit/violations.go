package audit

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Violations is the gauge kestra_guard_audit_violations{rule,namespace}: the
// violations the last background audit found, by rule and namespace (both
// bounded: rule IDs; guarded namespaces). It keeps a count per rule of each
// namespace with findings and makes the series when Prometheus reads them,
// as kube-state-metrics does: a cluster with findings in thousands of
// namespaces has tens of thousands of series, which a GaugeVec holds all the
// time at about 400 bytes each.
type Violations struct {
	desc *prometheus.Desc
	mu   sync.RWMutex
	ns   map[string][]ruleCount // sorted by rule
}

type ruleCount struct {
	rule string
	n    int
}

// NewViolationsGauge is an empty Violations.
func NewViolationsGauge() *Violations {
	return &Violations{
		desc: prometheus.NewDesc("kestra_guard_audit_violations", "Violations found by the last background audit, by rule and namespace.",
			[]string{"rule", "namespace"}, nil),
		ns: map[string][]ruleCount{},
	}
}

// Describe implements prometheus.Collector.
func (v *Violations) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector: one series per rule and
// namespace with violations.
func (v *Violations) Collect(ch chan<- prometheus.Metric) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for ns, rules := range v.ns {
		for _, r := range rules {
			ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, float64(r.n), r.rule, ns)
		}
	}
}

// set replaces the counts of ns by rules (rule -> violations); a namespace
// without violations has no series.
func (v *Violations) set(ns string, rules map[string]int) {
	var rs []ruleCount
	if len(rules) > 0 {
		rs = make([]ruleCount, 0, len(rules))
		for rule, n := range rules {
			rs = append(rs, ruleCount{rule, n})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].rule < rs[j].rule })
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if rs == nil {
		delete(v.ns, ns)
	} else {
		v.ns[ns] = rs
	}
}

// retain drops the series of every namespace keep does not hold.
func (v *Violations) retain(keep map[string]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for ns := range v.ns {
		if !keep[ns] {
			delete(v.ns, ns)
		}
	}
}
