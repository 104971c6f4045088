package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/check"
	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/input"
	"github.com/kestra-guard/kestra-guard/internal/policy"
	"github.com/kestra-guard/kestra-guard/internal/version"
)

// loadEngine reads the config file (if any), applies flags and builds the engine.
func loadEngine(cfg *config.Config) (*policy.Engine, error) {
	c, err := cfg.Compile()
	if err != nil {
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return c.Engine, nil
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
		e, err := loadEngine(&cfg)
		if err != nil {
			return err
		}
		objs, errs := input.ReadAll(args, s.In)
		if o.strict {
			objs, errs = refuseUnrecognised(objs, errs)
		}
		results, skipped, err := check.Objects(e, objs, check.Options{RequireNetworkPolicy: o.require, Audit: cfg.Mode != config.Enforce,
			NoMutate: o.noMutate, AllPods: o.allPods, Config: cfg})
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		return reportAll(s, o.output, check.Report{Results: results, Skipped: skipped, Errors: errs})
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
func reportAll(s Streams, format string, rep check.Report) error {
	var out []byte
	var err error
	switch format {
	case "sarif":
		out, err = check.SARIF(rep, version.Get().Version, func(id string) string {
			if r, ok := policy.RuleByID(id); ok && r.Summary != "" {
				return "forbids " + r.Summary
			}
			return ""
		})
	case "junit":
		out, err = check.JUnit(rep)
	default:
		err = report(s.Out, format, rep.Results, rep.Skipped, rep.Errors)
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

// report prints results (and the objects skipped) and turns a denial into
// exit status 1.
func report(w io.Writer, format string, results []check.Result, skipped []check.Skipped, errs []error) error {
	sum := check.Report{Results: results, Skipped: skipped, Errors: errs}.Summary()
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []check.Result{}
		}
		doc := map[string]any{"results": results, "summary": sum}
		if skipped != nil {
			doc["skipped"] = skipped
		}
		if errs != nil {
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Error()
			}
			doc["errors"] = msgs
		}
		if err := enc.Encode(doc); err != nil {
			return err
		}
	case "text":
		var b strings.Builder
		name := func(file string, line int, kind, ns, name string) string {
			prefix := kind + " " + ns + "/" + name
			if kind == "" {
				prefix = "document"
			}
			switch {
			case file != "" && line > 0:
				prefix = file + ":" + strconv.Itoa(line) + ": " + prefix
			case file != "":
				prefix = file + ": " + prefix
			}
			return prefix
		}
		for _, sk := range skipped {
			fmt.Fprintf(&b, "%s: skipped: %s\n", name(sk.File, sk.Line, sk.Kind, sk.Namespace, sk.Name), sk.Reason)
		}
		for _, r := range results {
			prefix := name(r.File, r.Line, r.Kind, r.Namespace, r.Name)
			for _, m := range r.Mutations {
				fmt.Fprintf(&b, "%s: would set %s\n", prefix, m)
			}
			for i, v := range r.Violations {
				fmt.Fprintf(&b, "%s: %s: %s: %s (%s: %s)\n", name(r.File, r.LineOf(i), r.Kind, r.Namespace, r.Name), v.Rule, v.Field, v.Reason, v.Action, v.Detail)
			}
			for _, w := range r.Waived {
				fmt.Fprintf(&b, "%s: %s: %s: waived by %s\n", prefix, w.Rule, w.Field, w.Exception.Describe())
			}
			for _, n := range r.Notes {
				fmt.Fprintf(&b, "%s: note: %s\n", prefix, n)
			}
			for i, v := range r.LatestWouldDeny {
				fmt.Fprintf(&b, "%s: latest would deny (judged by the rules of %s): %s: %s: %s (%s)\n",
					name(r.File, r.LatestLineOf(i), r.Kind, r.Namespace, r.Name), r.RulesVersion, v.Rule, v.Field, v.Reason, v.Detail)
			}
		}
		if !sum.Empty() {
			b.WriteString(sum.String() + "\n")
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
