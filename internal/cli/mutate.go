package cli

import (
	"encoding/json"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kestra-guard/kestra-guard/internal/config"
	"github.com/kestra-guard/kestra-guard/internal/policy"
)

func newMutate(s Streams) *cobra.Command {
	cfg := config.Default()
	var patch bool
	cmd := &cobra.Command{
		Use:   "mutate [--patch] PATH...",
		Short: "Print each Pod as the mutating webhook would return it",
		Args:  cobra.MinimumNArgs(1),
	}
	load := withConfig(cmd, &cfg)
	cmd.Flags().BoolVar(&patch, "patch", false, "print the JSON patch instead of the Pod")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		e, objs, err := engineAndInputs(&cfg, args, s.In)
		if err != nil {
			return err
		}
		first := true
		for _, o := range objs {
			if o.Kind != "Pod" {
				continue
			}
			mut := e.Options().Mutate(o.Pod, policy.ScopePod)
			var out []byte
			if patch {
				if mut.Patch == nil {
					mut.Patch = []policy.PatchOp{}
				}
				out, _ = json.Marshal(mut.Patch)
				out = append(out, '\n')
			} else {
				after, _ := json.Marshal(o.Pod)
				out, _ = yaml.JSONToYAML(after)
				if !first {
					out = append([]byte("---\n"), out...)
				}
			}
			first = false
			if _, err := s.Out.Write(out); err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}
