package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/check"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/report"
	"github.com/kestra-guard/kestra-guard/internal/scope"
	"github.com/kestra-guard/kestra-guard/internal/version"
)

// compile compiles cfg, once per command: serve, check, audit, mutate and
// rules hand the result down and nothing downstream compiles it again. An
// invalid configuration exits with status 2.
func compile(cfg *config.Config) (*config.Compiled, error) {
	c, err := cfg.Compile()
	if err != nil {
		return nil, &ExitError{Code: 2, Err: &configError{err}}
	}
	return c, nil
}

// engineAndInputs builds the engine from cfg and reads the inputs; both
// failures exit with status 2.
func engineAndInputs(cfg *config.Config, paths []string, stdin io.Reader) (*policy.Engine, []input.Object, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, nil, err
	}
	objs, err := input.Read(paths, stdin)
	if err != nil {
		return nil, nil, &ExitError{Code: 2, Err: err}
	}
	return c.Engine, objs, nil
}

type checkOptions struct {
	output   string
	strict   bool
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

YAML that is not a Kubernetes object or Kestra flow (a values.yaml, a
GitHub workflow) and kinds that hold no Pod are skipped, each with the
reason; --strict refuses the first and kinds spelt in another case ("pod").
Folders are walked without their hidden files and folders (.github, .git).
Every input that cannot be read is reported, and the rest still evaluated.
The text output ends with "N objects: A allowed, D denied, S skipped".

--rules-version v0.1.0 judges by the rules as they were at that version (as
a namespace labelled kestra-guard.io/enforce-version=v0.1.0 is judged) and
lists, as "latest would deny" lines, what the latest rules add: the flows to
fix before moving the pin. They do not change the exit status.

Exit status: 0 when nothing would be denied, 1 when something would be,
2 when an input cannot be read or parsed (after reporting everything else).`,
		Args: cobra.MinimumNArgs(1),
	}
	load := withConfig(cmd, &cfg)
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text, json, sarif (SARIF 2.1.0) or junit")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "refuse YAML that is not a Kubernetes object or Kestra flow, and kinds spelt in another case, as unreadable (exit 2)")
	cfg.BindModeFlag(cmd.Flags())
	cmd.Flags().BoolVar(&o.require, "require-network-policy", false, "evaluate the egress rule even when no NetworkPolicy is given")
	cmd.Flags().BoolVar(&o.noMutate, "no-mutate", false, "evaluate Pods as written, without the mutation enforce mode applies first (strict lint)")
	cmd.Flags().BoolVar(&o.allPods, "all-pods", false, "evaluate every Pod, not only the task runners the webhook intercepts")
	bindRulesVersion(cmd, &cfg)
	// What decides a task runner, bound as in serve and audit.
	cmd.Flags().StringVar(&cfg.TaskRunnerSelector, "task-runner-selector", cfg.TaskRunnerSelector, "label selector of task-runner Pods")
	cmd.Flags().StringSliceVar(&cfg.RunnerNamespaces, "runner-namespaces", cfg.RunnerNamespaces, "namespaces where every Pod is a task runner")
	cmd.Flags().StringVar(&cfg.Namespace, "guard-namespace", cfg.Namespace, "kestra-guard's own namespace, never intercepted")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		if !slices.Contains(outputFormats, o.output) {
			return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text, json, sarif or junit", o.output)}
		}
		c, err := compile(&cfg)
		if err != nil {
			return err
		}
		objs, errs := input.ReadAll(args, s.In)
		if o.strict {
			objs, errs = refuseUnrecognised(objs, errs)
		}
		results, skipped := check.Objects(c, objs, check.Options{RequireNetworkPolicy: o.require, Audit: c.Mode != scope.Enforce,
			NoMutate: o.noMutate, AllPods: o.allPods})
		return reportAll(s, o.output, report.Report{Results: results, Skipped: skipped, Errors: errs})
	}
	return cmd
}

var outputFormats = []string{"text", "json", "sarif", "junit"}

// bindRulesVersion binds --rules-version onto policy.ruleSetVersion, the
// rule set of a namespace without a kestra-guard.io/enforce-version label.
func bindRulesVersion(cmd *cobra.Command, cfg *config.Config) {
	cmd.Flags().StringVar(&cfg.Policy.RuleSetVersion, "rules-version", cfg.Policy.RuleSetVersion,
		"judge by the rules of this version ("+policy.AcceptedVersions()+") and report what latest would deny on top; overrides policy.ruleSetVersion of --config/--values")
}

// refuseUnrecognised turns the documents --strict refuses into errors.
func refuseUnrecognised(objs []input.Object, errs []error) ([]input.Object, []error) {
	kept := objs[:0:0]
	for _, o := range objs {
		if !o.Unrecognised {
			kept = append(kept, o)
			continue
		}
		errs = append(errs, &input.Error{File: o.File, Doc: o.Doc, Line: o.Line, Err: fmt.Errorf("%s (--strict)", o.Skip)})
	}
	return kept, errs
}

// reportAll prints the report; unreadable inputs are listed on stderr and
// exit 2, after everything else was reported.
func reportAll(s Streams, format string, rep report.Report) error {
	var out []byte
	var err error
	switch format {
	case "sarif":
		out, err = report.SARIF(rep, version.Get().Version, func(id string) string {
			if r, ok := policy.RuleByID(id); ok && r.Summary != "" {
				return "forbids " + r.Summary
			}
			return ""
		})
	case "junit":
		out, err = report.JUnit(rep)
	default:
		err = printReport(s.Out, format, rep.Results, rep.Skipped, rep.Errors)
		if len(rep.Errors) == 0 {
			return err
		}
		if ee := (*ExitError)(nil); errors.As(err, &ee) && ee.Code == 1 {
			err = nil // exit 2 below
		}
	}
	if err != nil {
		return err
	}
	if out != nil {
		if _, err := s.Out.Write(out); err != nil {
			return err
		}
	}
	if len(rep.Errors) > 0 {
		msgs := make([]string, len(rep.Errors))
		for i, e := range rep.Errors {
			msgs[i] = e.Error()
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("%d input(s) cannot be read:\n%s", len(rep.Errors), strings.Join(msgs, "\n"))}
	}
	if !rep.Summary().AllAllowed() {
		return &ExitError{Code: 1}
	}
	return nil
}

// printReport prints results (and the objects skipped) and turns a denial into
// exit status 1.
func printReport(w io.Writer, format string, results []report.Result, skipped []report.Skipped, errs []error) error {
	rep := report.Report{Results: results, Skipped: skipped, Errors: errs}
	var err error
	switch format {
	case "json":
		err = report.JSON(w, rep)
	case "text":
		err = report.Text(w, rep)
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text or json", format)}
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if !r.Allowed {
			return &ExitError{Code: 1}
		}
	}
	return nil
}
