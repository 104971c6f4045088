package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/config"
)

// ServeFunc runs the server with the configuration, compiled once here and
// handed down: nothing downstream parses or validates it again.
type ServeFunc func(ctx context.Context, cfg *config.Compiled) error

func newServe(serve ServeFunc) *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhooks (in the cluster, or against a kubeconfig)",
		Args:  cobra.NoArgs,
	}
	load := withConfig(cmd, &cfg)
	cfg.BindFlags(cmd.Flags())
	cfg.BindServerFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		compiled, err := compile(&cfg)
		if err != nil {
			return err
		}
		return serve(cmd.Context(), compiled)
	}
	return cmd
}

type configError struct{ err error }

func (e *configError) Error() string { return "invalid configuration:\n" + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }
