package audit

import (
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The violations gauge holds a series per rule and namespace with
// violations: a namespace's counts replace its old ones, a clean namespace
// and one no longer judged have none.
func TestViolationsGauge(t *testing.T) {
	v := NewViolationsGauge()
	series := func() map[string]float64 {
		out := map[string]float64{}
		ch := make(chan prometheus.Metric, 10)
		go func() { v.Collect(ch); close(ch) }()
		for m := range ch {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			l := map[string]string{}
			for _, p := range d.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["rule"]+"/"+l["namespace"]] = d.GetGauge().GetValue()
		}
		return out
	}
	v.set("a", map[string]int{"no-host-network": 1, "read-only-root-filesystem": 3})
	v.set("b", map[string]int{"no-host-path": 2})
	v.set("c", map[string]int{"no-host-path": 1})
	v.set("a", map[string]int{"read-only-root-filesystem": 2}) // the next pass
	v.set("b", nil)                                          // clean now
	want := map[string]float64{"read-only-root-filesystem/a": 2, "no-host-path/c": 1}
	if got := series(); !maps.Equal(got, want) {
		t.Errorf("series %v; want %v", got, want)
	}
	v.retain(map[string]bool{"a": true}) // c was not judged in the pass
	want = map[string]float64{"read-only-root-filesystem/a": 2}
	if got := series(); !maps.Equal(got, want) {
		t.Errorf("after the pass, series %v; want %v", got, want)
	}
	ch := make(chan *prometheus.Desc, 1)
	v.Describe(ch)
	// The name and labels alerts and dashboards read.
	if d := (<-ch).String(); !strings.Contains(d, `fqName: "kestra_guard_audit_violations"`) || !strings.Contains(d, "variableLabels: {rule,namespace}") {
		t.Errorf("desc %s", d)
	}
}
