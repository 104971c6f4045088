// Command kestra-guard is the admission webhook that makes Kestra's
// task-runner Pods safe, and its offline tools.
package main

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kestra-guard/kestra-guard/internal/cli"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/server"
)

func main() {
	ctx := ctrl.SetupSignalHandler()
	serve := func(ctx context.Context, cfg *config.Compiled) error {
		// JSON, sampled as zap's production preset except decision lines;
		// buffered so that one line per decision costs no write call,
		// flushed each second and on exit.
		out := &zapcore.BufferedWriteSyncer{WS: os.Stderr, FlushInterval: time.Second}
		defer func() { _ = out.Stop() }()
		log, err := server.NewLogger(out, cfg.Server.LogLevel)
		if err != nil {
			return err
		}
		ctrl.SetLogger(log)
		// A bad value costs the soft limit, not admission: logged, and the
		// server runs without it.
		if limit, err := server.SoftMemoryLimit(os.Getenv); err != nil {
			log.Error(err, "no soft memory limit set")
		} else if limit > 0 {
			debug.SetMemoryLimit(limit)
			log.Info("soft memory limit set", "bytes", limit, "from", server.MemoryLimitEnv)
		} else if v := os.Getenv("GOMEMLIMIT"); v != "" {
			log.Info("soft memory limit left to GOMEMLIMIT", "GOMEMLIMIT", v)
		}
		return server.Run(ctx, cfg, nil, log)
	}
	os.Exit(cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], serve))
}
