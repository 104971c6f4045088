package server

import (
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DecisionLogger is the name of the logger of admission decisions: its
// lines are never sampled.
const DecisionLogger = "admission"

// NewLogger returns the server's JSON logger at level (debug, info, warn or
// error) writing to out. Lines are sampled as zap's production preset (100
// per second per message, then 1 in 100), except the admission decisions:
// one line per decision, every one kept, however many come in a burst.
func NewLogger(out zapcore.WriteSyncer, level string) (logr.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return logr.Logger{}, err
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), out, lvl)
	sampled := zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
	zl := zap.New(&unsampled{Core: sampled, raw: core}, zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
	return zapr.NewLogger(zl), nil
}

// unsampled sends the decision logger's entries to raw and the rest to the
// sampler.
type unsampled struct {
	zapcore.Core // the sampler
	raw          zapcore.Core
}

func isDecision(name string) bool {
	return name == DecisionLogger || strings.HasPrefix(name, DecisionLogger+".")
}

func (u *unsampled) With(fields []zapcore.Field) zapcore.Core {
	return &unsampled{Core: u.Core.With(fields), raw: u.raw.With(fields)}
}

func (u *unsampled) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if isDecision(e.LoggerName) {
		return u.raw.Check(e, ce)
	}
	return u.Core.Check(e, ce)
}
