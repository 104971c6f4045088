package integration

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/test/framework"
)

// soakReviews is how many admission reviews the soak sends: 10,000 in
// `make test`, 100,000 in `make soak` (SOAK_REVIEWS).
func soakReviews(t *testing.T) int {
	if s := os.Getenv("SOAK_REVIEWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SOAK_REVIEWS=%q: expected a positive number", s)
		}
		return n
	}
	return 10_000
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// Admission reviews over TLS on loopback, validate and mutate alternating,
// passing and failing Pods: no error, and the heap does not grow between
// the first tenth of the run and its end.
func TestSoak(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	g.CreateNamespace(t, "runners", map[string]string{config.RunnerLabel: "true"})
	c, base := g.HTTPClient()
	bodies := [][]byte{
		review("a", "runners", hardenedPod("runners", "ok"), "Pod"),
		review("b", "runners", badPod("runners", "bad"), "Pod"),
		review("c", "runners", kestraDefaultPod("runners", "default"), "Pod"),
	}
	total := soakReviews(t)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var warm float64
	var warmOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				if i == int64(total/10) {
					warmOnce.Do(func() { warm = heapMB() })
				}
				path := "/validate-pods"
				if i%2 == 0 {
					path = "/mutate-pods"
				}
				resp, err := c.Post(base+path, "application/json", bytes.NewReader(bodies[i%3]))
				if err == nil {
					err = drain(resp)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	end := heapMB()
	t.Logf("%d reviews in %s (%.0f/s); heap %.1f MiB after a tenth, %.1f MiB at the end", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), warm, end)
	if errs.Load() > 0 {
		t.Errorf("%d of %d reviews failed; first: %v", errs.Load(), total, firstErr.Load())
	}
	if end > warm+32 {
		t.Errorf("heap grew from %.1f to %.1f MiB", warm, end)
	}
}
