package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kestra-guard/kestra-guard/hack/internal/benchkit"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

func reviewBody(p *corev1.Pod) []byte {
	raw, _ := json.Marshal(p)
	b, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: p.Namespace, Name: p.Name,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	return b
}

// captured is a review kube-apiserver sent (hack/capture wrote it to
// internal/webhook/testdata/reviews), compacted as sent, moved to namespace ns.
func captured(name, ns string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "internal", "webhook", "testdata", "reviews", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("reading the captured review (run go run ./hack/capture): %w", err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return bytes.ReplaceAll(c.Bytes(), []byte(`"runners"`), []byte(strconv.Quote(ns))), nil
}

// capturedBodies are the validate review of the passing task runner and the
// mutate review of the Kestra default Pod, in kestra-guard's namespace.
func capturedBodies() (validate, mutate []byte, err error) {
	if validate, err = captured("validate-passing-create", nsGuard); err != nil {
		return nil, nil, err
	}
	mutate, err = captured("mutate-kestra-default-create", nsGuard)
	return validate, mutate, err
}

// postReview posts a review that must be admitted: an answer other than
// HTTP 200 with an AdmissionReview whose result code is 200 and allowed is
// true counts as an error.
func postReview(c *http.Client, url string, body []byte) (*admissionv1.AdmissionResponse, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &r); err != nil || r.Response == nil {
		return nil, fmt.Errorf("not an AdmissionReview: %.100s", b)
	}
	if !r.Response.Allowed || r.Response.Result == nil || r.Response.Result.Code != http.StatusOK {
		return r.Response, fmt.Errorf("not admitted: allowed=%v result=%+v", r.Response.Allowed, r.Response.Result)
	}
	return r.Response, nil
}

// sample is one measurement: how many requests, errors, and their latencies.
type sample struct {
	n, errors int
	elapsed   time.Duration
	lat       []time.Duration
}

func (s sample) rate() float64 { return float64(s.n) / s.elapsed.Seconds() }

func (s sample) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	i := int(p / 100 * float64(len(l)-1))
	return l[i]
}

// saturate runs conc closed-loop clients for d.
func saturate(ctx context.Context, conc int, d time.Duration, do func() error) sample {
	var mu sync.Mutex
	var s sample
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := do(); err != nil {
					errs++
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			s.lat, s.errors = append(s.lat, lat...), s.errors+errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.n, s.elapsed = len(s.lat), time.Since(start)
	return s
}

// fixedRate offers rate requests per second for d (open loop).
func fixedRate(ctx context.Context, rate int, d time.Duration, do func() error) sample {
	var mu sync.Mutex
	var s sample
	var errs atomic.Int64
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	var wg sync.WaitGroup
	for time.Since(start) < d && ctx.Err() == nil {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if err := do(); err != nil {
				errs.Add(1)
			}
			l := time.Since(t)
			mu.Lock()
			s.lat = append(s.lat, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.n, s.errors, s.elapsed = len(s.lat), int(errs.Load()), time.Since(start)
	return s
}

// createPods creates n Pods named prefix-1 to prefix-n, built by pod, with
// conc clients, and measures each create.
func createPods(ctx context.Context, c client.Client, prefix string, n, conc int, pod func(name string) *corev1.Pod) sample {
	var next atomic.Int64
	return saturateN(ctx, conc, n, func() error {
		return c.Create(ctx, pod(fmt.Sprintf("%s-%d", prefix, next.Add(1))))
	})
}

// saturateN runs exactly n calls across conc clients.
func saturateN(ctx context.Context, conc, n int, do func() error) sample {
	var mu sync.Mutex
	var s sample
	var left atomic.Int64
	left.Store(int64(n))
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				t := time.Now()
				err := do()
				l := time.Since(t)
				mu.Lock()
				s.lat = append(s.lat, l)
				if err != nil {
					s.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.n, s.elapsed = len(s.lat), time.Since(start)
	return s
}

// stats summarises repeated measurements: median, min and max.
type stats struct{ med, min, max float64 }

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return stats{med: s[len(s)/2], min: s[0], max: s[len(s)-1]}
}

func (s stats) String() string {
	return fmt.Sprintf("%s (%s-%s)", num(s.med), num(s.min), num(s.max))
}

func num(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case x > 0 && x < 0.1:
		return strconv.FormatFloat(x, 'g', 2, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// apiserverMetrics reads the API server's admission histograms: sum and
// count of seconds by webhook name or policy.
func apiserverMetrics(ctx context.Context, e *env) (map[string][2]float64, error) {
	b, err := e.cp.Clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading kube-apiserver metrics: %w", err)
	}
	m, err := benchkit.Parse("kube-apiserver /metrics", b)
	if err != nil {
		return nil, err
	}
	out := m.SumCount("apiserver_admission_webhook_admission_duration_seconds", "name")
	maps.Copy(out, m.SumCount("apiserver_validating_admission_policy_check_duration_seconds", "policy"))
	maps.Copy(out, m.SumCount("apiserver_mutating_admission_policy_check_duration_seconds", "policy"))
	return out, nil
}

// serverMetrics reads a webhook server's own request timing
// (controller-runtime's controller_runtime_webhook_latency_seconds) by path.
func serverMetrics(ctx context.Context, url string) (map[string][2]float64, error) {
	b, err := benchkit.Get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	m, err := benchkit.Parse(url, b)
	if err != nil {
		return nil, err
	}
	return m.SumCount("controller_runtime_webhook_latency_seconds", "webhook"), nil
}
