// Command kestra-guard is the admission webhook that makes Kestra's
// task-runner Pods safe, and its offline tools.
package main

import (
	"context"
	"os"
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
		return server.Run(ctx, cfg, nil, log)
	}
	os.Exit(cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], serve))
}
