package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/check"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// loadEngine reads the config file (if any), applies flags and builds the engine.
func loadEngine(cfg *config.Config) (*policy.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	e, err := policy.NewEngine(cfg.Policy)
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return e, nil
}

// engineAndInputs builds the engine from cfg and reads the inputs; both
// failures exit with status 2.
func engineAndInputs(cfg *config.Config, paths []string, stdin io.Reader) (*policy.Engine, []input.Object, error) {
	e, err := loadEngine(cfg)
	if err != nil {
		return nil, nil, err
	}
	objs, err := input.Read(paths, stdin)
	if err != nil {
		return nil, nil, &ExitError{Code: 2, Err: err}
	}
	return e, objs, nil
}

// withConfig binds --config; the returned function loads the file into cfg
// under the flags given on the command line.
func withConfig(cmd *cobra.Command, cfg *config.Config) func() error {
	var path string
	cmd.Flags().StringVar(&path, "config", "", "configuration file (the same the server reads)")
	return func() error {
		if err := config.LoadInto(path, cfg, cmd.Flags()); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		return nil
	}
}

type checkOptions struct {
	output  string
	mode    string
	require bool
}

func newCheck(s Streams) *cobra.Command {
	cfg := config.Default()
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [flags] PATH...",
		Short: "Say whether Pods, workloads and Kestra flows would be admitted",
		Long: `check reads files, folders (recursively) or - for stdin, in YAML or JSON, and
evaluates every Pod (and Pod template), with the NetworkPolicies found in the
same run as its namespace's state, and every Kestra flow.

Exit status: 0 when nothing would be denied, 1 when something would be,
2 when an input cannot be read or parsed.`,
		Args: cobra.MinimumNArgs(1),
	}
	load := withConfig(cmd, &cfg)
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.mode, "mode", "enforce", "enforce, or audit to report denials as warnings and exit 0")
	cmd.Flags().BoolVar(&o.require, "require-network-policy", false, "evaluate the egress rule even when no NetworkPolicy is given")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		if o.mode != "enforce" && o.mode != "audit" {
			return &ExitError{Code: 2, Err: fmt.Errorf("--mode %q: expected enforce or audit", o.mode)}
		}
		e, objs, err := engineAndInputs(&cfg, args, s.In)
		if err != nil {
			return err
		}
		results := check.Objects(e, objs, check.Options{RequireNetworkPolicy: o.require, Audit: o.mode == "audit"})
		return report(s.Out, o.output, results)
	}
	return cmd
}

// report prints results and turns a denial into exit status 1.
func report(w io.Writer, format string, results []check.Result) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []check.Result{}
		}
		if err := enc.Encode(map[string]any{"results": results}); err != nil {
			return err
		}
	case "text":
		var b strings.Builder
		for _, r := range results {
			prefix := r.Kind + " " + r.Namespace + "/" + r.Name
			if r.File != "" {
				prefix = r.File + ": " + prefix
			}
			for _, v := range r.Violations {
				fmt.Fprintf(&b, "%s: %s: %s: %s (%s: %s)\n", prefix, v.Rule, v.Field, v.Reason, v.Action, v.Detail)
			}
			for _, w := range r.Waived {
				fmt.Fprintf(&b, "%s: %s: %s: waived by %s\n", prefix, w.Rule, w.Field, w.Exception.Describe())
			}
			for _, n := range r.Notes {
				fmt.Fprintf(&b, "%s: note: %s\n", prefix, n)
			}
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text or json", format)}
	}
	for _, r := range results {
		if !r.Allowed {
			return &ExitError{Code: 1}
		}
	}
	return nil
}
