package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

// ruleSummaries says what each rule forbids, in one line, for `rules`.
// TestRuleSummaries fails when a rule has none.
var ruleSummaries = map[string]string{
	"run-as-non-root":           "containers that may run as UID 0 (runAsNonRoot unset or false, runAsUser 0)",
	"read-only-root-filesystem": "containers with a writable root filesystem",
	"no-host-path":              "hostPath volumes, except read-only mounts of policy.hostPathAllowList",
	"no-host-network":           "sharing the node's network namespace (hostNetwork), which bypasses NetworkPolicy",
	"metadata-egress-blocked":   "a namespace whose NetworkPolicies let the Pod reach a metadata address",
	"no-host-namespaces":        "sharing the node's PID or IPC namespace",
	"no-privileged":             "privileged containers",
	"no-privilege-escalation":   "allowPrivilegeEscalation unset or true",
	"drop-all-capabilities":     "containers that do not drop ALL capabilities, or add any but NET_BIND_SERVICE",
	"seccomp-profile":           "containers without a RuntimeDefault or Localhost seccomp profile",
	"no-host-ports":             "container ports bound on the node (hostPort)",
	"no-host-probes":            "a host on probes and lifecycle hooks (the kubelet would connect there from the node's network)",
	"no-service-account-token":  "an API token mounted in a task runner",
	"no-cloud-identity":         "task runners wired to a cloud identity (web-identity or container-credentials env, projected tokens for a cloud audience)",
	"no-metadata-address":       "metadata addresses and names written in command, args or env values, in any encoding",
	"allowed-registries":        "images outside policy.allowedRegistries",
}

type ruleRow struct {
	ID      string        `json:"id"`
	Action  policy.Action `json:"action"`
	Default policy.Action `json:"default"`
	Forbids string        `json:"forbids"`
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
		e, err := loadEngine(&cfg)
		if err != nil {
			return err
		}
		rows := make([]ruleRow, 0, len(policy.Rules))
		for _, r := range policy.Rules {
			rows = append(rows, ruleRow{ID: r.ID, Action: e.Action(r.ID), Default: r.Default, Forbids: ruleSummaries[r.ID]})
		}
		switch output {
		case "json":
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"rules": rows})
		case "text":
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			_, _ = fmt.Fprintln(w, "RULE\tACTION\tDEFAULT\tFORBIDS")
			for _, r := range rows {
				_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.ID, r.Action, r.Default, r.Forbids)
			}
			return w.Flush()
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("--output %q: expected text or json", output)}
	}
	return cmd
}
