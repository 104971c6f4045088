// Package benchkit is what make bench (hack/bench) and make scale
// (hack/scale) share: reading a process's Prometheus metrics, the machine's
// CPU, and the part of BENCHMARKS.md that make scale writes and make bench
// keeps.
package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Get is the body of a GET of url; an answer other than HTTP 200 is an error.
func Get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return b, nil
}

// Metrics are the families of one Prometheus text exposition, by name.
type Metrics map[string]*dto.MetricFamily

// Parse reads a Prometheus text exposition (what a /metrics endpoint
// serves); from names where it was read, for errors.
func Parse(from string, b []byte) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Prometheus text exposition: %w", from, err)
	}
	return fams, nil
}

// Labels are a sample's labels as a map.
func Labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Sum adds up the values of the counter, gauge or untyped family name whose
// labels include every pair of want.
func (ms Metrics) Sum(name string, want map[string]string) float64 {
	total := 0.0
	for _, m := range ms[name].GetMetric() {
		l := Labels(m)
		match := true
		for k, w := range want {
			if l[k] != w {
				match = false
				break
			}
		}
		if match {
			total += Value(m)
		}
	}
	return total
}

// Value is the value of a counter, gauge or untyped sample (0 for others).
func Value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// SumCount is the sum and count of the histogram or summary family name,
// added up by the value of label; samples without the label are left out.
// The family must be typed (a "# TYPE name histogram" line, as the API
// server and controller-runtime write): without one, expfmt reads its
// _sum and _count lines as two untyped families, and SumCount finds none.
func (ms Metrics) SumCount(name, label string) map[string][2]float64 {
	out := map[string][2]float64{}
	for _, m := range ms[name].GetMetric() {
		v, ok := Labels(m)[label]
		if !ok {
			continue
		}
		cur := out[v]
		switch {
		case m.Histogram != nil:
			cur[0] += m.Histogram.GetSampleSum()
			cur[1] += float64(m.Histogram.GetSampleCount())
		case m.Summary != nil:
			cur[0] += m.Summary.GetSampleSum()
			cur[1] += float64(m.Summary.GetSampleCount())
		default:
			continue
		}
		out[v] = cur
	}
	return out
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// The scale section of BENCHMARKS.md lies between these markers: make scale
// writes it, make bench keeps it as it was.
const (
	ScaleBegin = "<!-- scale:begin (written by make scale; make bench keeps it) -->"
	ScaleEnd   = "<!-- scale:end -->"
)

// ScaleSection is the scale section of doc, markers included and with a
// final newline; empty when doc has none.
func ScaleSection(doc string) string {
	i := strings.Index(doc, ScaleBegin)
	if i < 0 {
		return ""
	}
	j := strings.Index(doc[i:], ScaleEnd)
	if j < 0 {
		return ""
	}
	return doc[i:i+j+len(ScaleEnd)] + "\n"
}

// SpliceScaleSection puts section (markers included) in doc in place of its
// scale section; without one, before the hand-written notes (or at the end).
func SpliceScaleSection(doc, section string) string {
	if i := strings.Index(doc, ScaleBegin); i >= 0 {
		if j := strings.Index(doc[i:], ScaleEnd); j >= 0 {
			rest := strings.TrimPrefix(doc[i+j+len(ScaleEnd):], "\n")
			return doc[:i] + section + rest
		}
	}
	if i := strings.Index(doc, "\n## Hand-written notes"); i >= 0 {
		return doc[:i+1] + section + "\n" + doc[i+1:]
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	return doc + "\n" + section
}
