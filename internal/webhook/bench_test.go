package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPodHandler serves the captured reviews through PodHandler, without
// the network: the handler's own CPU and allocations per review. make bench
// measures the whole HTTPS path.
func BenchmarkPodHandler(b *testing.B) {
	g := testGuard(b)
	reviews := capturedReviews(b)
	for _, c := range []struct {
		review string
		h      http.Handler
	}{
		{"validate-passing-create", PodHandler(Validator{Guard: g})},
		{"mutate-kestra-default-create", PodHandler(Mutator{Guard: g})},
		{"mutate-passing-create", PodHandler(Mutator{Guard: g})},
	} {
		body := reviews[c.review]
		b.Run(c.review, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkDecodeReview is the json/v2 decode of a captured review alone.
func BenchmarkDecodeReview(b *testing.B) {
	body := capturedReviews(b)["validate-passing-create"]
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var in reviewIn
		if err := decodeReview(body, &in); err != nil {
			b.Fatal(err)
		}
	}
}
