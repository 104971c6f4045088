package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kestra-guard/kestra-guard/internal/scope"
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

// Bounds of the soak: the live heap (after a GC) at the end may be at most
// heapGrowth times the warm heap plus heapSlack, and the process's resident
// memory at most rssGrowth times the warm RSS plus rssSlack. The warm
// readings are taken after a tenth of the reviews. The server runs in the
// test process, so both readings hold it (with the clients).
const (
	heapGrowth = 1.25
	heapSlack  = 2 << 20
	rssGrowth  = 1.25
	rssSlack   = 8 << 20
)

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rss is the resident memory of this process (VmRSS), in bytes.
func rss(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("reading VmRSS: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("reading VmRSS from %q: %v", l, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// soakCase is one review of the soak and the answer it must get.
type soakCase struct {
	name    string
	path    string
	body    []byte
	allowed bool
	code    int32
	patched bool
}

// check decodes an answer and compares it with what the case expects.
func (c soakCase) check(resp *http.Response) error {
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", c.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %.200s", c.name, resp.StatusCode, b)
	}
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &r); err != nil || r.Response == nil {
		return fmt.Errorf("%s: not an AdmissionReview (%v): %.200s", c.name, err, b)
	}
	got := r.Response
	switch {
	case got.UID != "soak":
		return fmt.Errorf("%s: answer for uid %q", c.name, got.UID)
	case got.Allowed != c.allowed:
		return fmt.Errorf("%s: allowed=%v, want %v: %+v", c.name, got.Allowed, c.allowed, got.Result)
	case got.Result == nil || got.Result.Code != c.code:
		return fmt.Errorf("%s: result %+v, want code %d", c.name, got.Result, c.code)
	case (len(got.Patch) > 0) != c.patched:
		return fmt.Errorf("%s: patch %q, want a patch: %v", c.name, got.Patch, c.patched)
	}
	return nil
}

// Admission reviews over TLS on loopback, validate and mutate alternating,
// passing and failing Pods: every answer is decoded and is the expected
// decision with the expected result code, and the heap and the resident
// memory at the end stay within a bound of their values after a tenth of
// the run.
func TestSoak(t *testing.T) {
	g := framework.RunGuarded(t, nil, nil)
	g.CreateNamespace(t, "runners", map[string]string{scope.RunnerLabel: "true"})
	c, base := g.HTTPClient()
	hardened := review("soak", "runners", framework.Gated(g.Config, hardenedPod("runners", "ok")), "Pod")
	bad := review("soak", "runners", badPod("runners", "bad"), "Pod")
	def := review("soak", "runners", kestraDefaultPod("runners", "default"), "Pod")
	cases := []soakCase{
		{"validate a hardened Pod", "/validate-pods", hardened, true, http.StatusOK, false},
		{"mutate a Pod with host network", "/mutate-pods", bad, true, http.StatusOK, true},
		{"validate Kestra's default Pod", "/validate-pods", def, false, http.StatusForbidden, false},
		{"mutate a hardened Pod", "/mutate-pods", hardened, true, http.StatusOK, true}, // runAsGroup, fsGroup, /tmp
		{"validate a Pod with host network", "/validate-pods", bad, false, http.StatusForbidden, false},
		{"mutate Kestra's default Pod", "/mutate-pods", def, true, http.StatusOK, true},
	}
	// The managed NetworkPolicy of a new runner namespace is created by
	// its controller: until it exists, the hardened Pod is rightly denied.
	framework.Eventually(t, func() error {
		resp, err := c.Post(base+cases[0].path, "application/json", bytes.NewReader(cases[0].body))
		if err != nil {
			return err
		}
		return cases[0].check(resp)
	})
	total := soakReviews(t)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var warmHeap, warmRSS uint64
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
					warmOnce.Do(func() { warmHeap, warmRSS = liveHeap(), rss(t) })
				}
				sc := cases[i%int64(len(cases))]
				resp, err := c.Post(base+sc.path, "application/json", bytes.NewReader(sc.body))
				if err == nil {
					err = sc.check(resp)
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
	endHeap, endRSS := liveHeap(), rss(t)
	t.Logf("%d reviews in %s (%.0f/s); live heap %.1f MiB after a tenth, %.1f MiB at the end (bound %.1f); RSS %.1f MiB after a tenth, %.1f MiB at the end (bound %.1f)",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		mib(warmHeap), mib(endHeap), mib(uint64(heapGrowth*float64(warmHeap))+heapSlack),
		mib(warmRSS), mib(endRSS), mib(uint64(rssGrowth*float64(warmRSS))+rssSlack))
	if errs.Load() > 0 {
		t.Errorf("%d of %d reviews failed or got the wrong answer; first: %v", errs.Load(), total, firstErr.Load())
	}
	if bound := uint64(heapGrowth*float64(warmHeap)) + heapSlack; endHeap > bound {
		t.Errorf("live heap grew from %.1f MiB to %.1f MiB (bound %.1f MiB)", mib(warmHeap), mib(endHeap), mib(bound))
	}
	if bound := uint64(rssGrowth*float64(warmRSS)) + rssSlack; endRSS > bound {
		t.Errorf("resident memory grew from %.1f MiB to %.1f MiB (bound %.1f MiB)", mib(warmRSS), mib(endRSS), mib(bound))
	}
}
