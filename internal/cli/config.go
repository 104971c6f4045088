package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/chart"
	"github.com/kestra-guard/kestra-guard/internal/config"
)

// withConfig binds --config and --values; the returned function loads the
// file given into cfg under the flags given on the command line.
//
// --values reads a values file of the Helm chart: the chart (embedded in the
// binary) is rendered with it and the config.yaml of its ConfigMap is read,
// so that the values map to the configuration in one place, the chart.
func withConfig(cmd *cobra.Command, cfg *config.Config) func() error {
	var path, values string
	cmd.Flags().StringVar(&path, "config", "", "configuration file (the same the server reads)")
	cmd.Flags().StringVar(&values, "values", "", "values file of the kestra-guard Helm chart, read as the configuration the chart would give the server")
	cmd.MarkFlagsMutuallyExclusive("config", "values")
	return func() error {
		var err error
		if values != "" {
			err = config.LoadWith(func() (config.Config, error) { return configFromValues(values, cfg.Namespace) }, cfg, cmd.Flags())
		} else {
			err = config.LoadInto(path, cfg, cmd.Flags())
		}
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		return nil
	}
}

// configFromValues renders the chart's configuration from a values file,
// installed in namespace.
func configFromValues(path, namespace string) (config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return config.Config{}, fmt.Errorf("reading values: %w", err)
	}
	out, err := chart.ConfigFromValues(b, namespace)
	if err != nil {
		return config.Config{}, fmt.Errorf("values %s: %w", path, err)
	}
	return config.Parse(out, path+" (rendered by the chart)")
}
