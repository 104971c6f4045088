// Command kestra-guard is the admission webhook that makes Kestra's
// task-runner Pods safe, and its offline tools.
package main

import (
	"context"
	"os"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kestra-guard/kestra-guard/internal/cli"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/server"
)

func main() {
	ctx := ctrl.SetupSignalHandler()
	serve := func(ctx context.Context, cfg config.Config) error {
		zl, err := zap.NewProduction()
		if err != nil {
			return err
		}
		defer func() { _ = zl.Sync() }()
		log := zapr.NewLogger(zl)
		ctrl.SetLogger(log)
		return server.Run(ctx, cfg, nil, log)
	}
	os.Exit(cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], serve))
}
