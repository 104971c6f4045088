package server

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"
)

type buffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}
func (b *buffer) Sync() error { return nil }

// A burst of identical decision lines keeps every line; the same burst on
// another logger is sampled.
func TestDecisionLinesAreNeverSampled(t *testing.T) {
	for name, tc := range map[string]struct {
		logger   string
		wantAll  bool
		minLevel string
	}{
		"decisions":         {DecisionLogger, true, "info"},
		"decisions, nested": {DecisionLogger + ".pods", true, "info"},
		"controller":        {"managed-networkpolicy", false, "info"},
	} {
		t.Run(name, func(t *testing.T) {
			var out buffer
			log, err := NewLogger(zapcore.AddSync(&out), tc.minLevel)
			if err != nil {
				t.Fatal(err)
			}
			l := log.WithName(tc.logger).WithValues("rule", "no-host-path")
			const n = 1000
			for range n {
				l.Info("denied")
			}
			got := strings.Count(out.String(), `"msg":"denied"`)
			if tc.wantAll && got != n || !tc.wantAll && got >= n {
				t.Errorf("%d of %d lines written (all wanted: %t)", got, n, tc.wantAll)
			}
		})
	}
	if _, err := NewLogger(zapcore.AddSync(&buffer{}), "verbose"); err == nil {
		t.Error("level verbose accepted")
	}
}
