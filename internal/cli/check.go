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

type checkOptions struct {
	output   string
	require  bool
	noMutate bool
	allPods  bool
}

func newCheck(s Streams) *cobra.Command {
	cfg := config.Default()
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [flags] PATH...",
		Short: "Say whether Pods, workloads and Kestra flows would be admitted",
		Long: `check reads files, folders (recursively) or - for stdin, in YAML or JSON, and
evaluates every task-runner Pod (and Pod template), with the NetworkPolicies
found in the same run as its namespace's state, and every Kestra flow.

A Pod is judged as the cluster would admit it in enforce mode: mutated first
(reported as "would set" lines), then the rules. Pods the webhook would not
intercept (not matching taskRunnerSelector outside runnerNamespaces, or in
kube-system or kestra-guard's namespace) are skipped, each with the reason;
--all-pods evaluates them too. --no-mutate evaluates Pods as written.

Exit status: 0 when nothing would be denied, 1 when something would be,
2 when an input cannot be read or parsed.`,
		Args: cobra.MinimumNArgs(1),
	}
	load := withConfig(cmd, &cfg)
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cfg.BindModeFlag(cmd.Flags())
	cmd.Flags().BoolVar(&o.require, "require-network-policy", false, "evaluate the egress rule even when no NetworkPolicy is given")
	cmd.Flags().BoolVar(&o.noMutate, "no-mutate", false, "evaluate Pods as written, without the mutation enforce mode applies first (strict lint)")
	cmd.Flags().BoolVar(&o.allPods, "all-pods", false, "evaluate every Pod, not only the task runners the webhook intercepts")
	// What decides a task runner, bound as in serve and audit.
	cmd.Flags().StringVar(&cfg.TaskRunnerSelector, "task-runner-selector", cfg.TaskRunnerSelector, "label selector of task-runner Pods")
	cmd.Flags().StringSliceVar(&cfg.RunnerNamespaces, "runner-namespaces", cfg.RunnerNamespaces, "namespaces where every Pod is a task runner")
	cmd.Flags().StringVar(&cfg.Namespace, "guard-namespace", cfg.Namespace, "kestra-guard's own namespace, never intercepted")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		e, objs, err := engineAndInputs(&cfg, args, s.In)
		if err != nil {
			return err
		}
		results, skipped, err := check.Objects(e, objs, check.Options{RequireNetworkPolicy: o.require, Audit: cfg.Mode != config.Enforce,
			NoMutate: o.noMutate, AllPods: o.allPods, Config: cfg})
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		return report(s.Out, o.output, results, skipped)
	}
	return cmd
}

// report prints results (and the objects skipped) and turns a denial into
// exit status 1.
func report(w io.Writer, format string, results []check.Result, skipped []check.Skipped) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []check.Result{}
		}
		doc := map[string]any{"results": results}
		if skipped != nil {
			doc["skipped"] = skipped
		}
		if err := enc.Encode(doc); err != nil {
			return err
		}
	case "text":
		var b strings.Builder
		name := func(file, kind, ns, name string) string {
			prefix := kind + " " + ns + "/" + name
			if file != "" {
				prefix = file + ": " + prefix
			}
			return prefix
		}
		for _, sk := range skipped {
			fmt.Fprintf(&b, "%s: skipped: %s\n", name(sk.File, sk.Kind, sk.Namespace, sk.Name), sk.Reason)
		}
		for _, r := range results {
			prefix := name(r.File, r.Kind, r.Namespace, r.Name)
			for _, m := range r.Mutations {
				fmt.Fprintf(&b, "%s: would set %s\n", prefix, m)
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
