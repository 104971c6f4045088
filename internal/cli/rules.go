package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

type ruleRow struct {
	ID      string        `json:"id"`
	Action  policy.Action `json:"action"`
	Default policy.Action `json:"default"`
	Forbids string        `json:"forbids"`
	// Since is the rule-set version that added the rule.
	Since string `json:"since"`
}

func newRules(s Streams) *cobra.Command {
	cfg := config.Default()
	var output string
	cmd := &cobra.Command{
		Use:   "rules [--config F | --values F] [-o text|json]",
		Short: "List every rule, its action under the configuration given, and what it forbids",
		Args:  cobra.NoArgs,
	}
	load := withConfig(cmd, &cfg)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.RunE = func(*cobra.Command, []string) error {
		if err := load(); err != nil {
			return err
		}
		c, err := compile(&cfg)
		if err != nil {
			return err
		}
		e := c.Engine
		rows := make([]ruleRow, 0, len(policy.Rules))
		for _, r := range policy.Rules {
			rows = append(rows, ruleRow{ID: r.ID, Action: e.Action(r.ID), Default: r.Default, Forbids: r.Summary, Since: r.Since})
		}
		switch output {
		case "json":
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"rules": rows})
		case "text":
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			_, _ = fmt.Fprintln(w, "RULE\tACTION\tDEFAULT\tFORBIDS\tSINCE")
			for _, r := range rows {
				_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Action, r.Default, r.Forbids, r.Since)
			}
			return w.Flush()
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text or json", output)}
	}
	return cmd
}
