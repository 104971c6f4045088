package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/version"
)

func newVersion(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o text|json]",
		Short: "Print kestra-guard's version, commit and Go version",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.RunE = func(*cobra.Command, []string) error {
		v := version.Get()
		switch output {
		case "text":
			_, err := fmt.Fprintf(s.Out, "kestra-guard %s (commit %s, %s)\n", v.Version, v.Commit, v.GoVersion)
			return err
		case "json":
			return json.NewEncoder(s.Out).Encode(v)
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text or json", output)}
	}
	return cmd
}
