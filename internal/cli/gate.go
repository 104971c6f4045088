package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kestra-guard/kestra-guard/internal/gate"
)

// TerminationLog is where the kubelet reads a container's termination
// message (the default terminationMessagePath).
const TerminationLog = "/dev/termination-log"

func newGate(s Streams) *cobra.Command {
	c := gate.Config{Consecutive: 3, AttemptTimeout: 500 * time.Millisecond, Interval: 200 * time.Millisecond, Timeout: 2 * time.Minute}
	var messagePath string
	cmd := &cobra.Command{
		Use:   "gate --endpoints HOST:PORT,...",
		Short: "Start gate (the first init container of a guarded Pod): exit 0 once every endpoint is unreachable from the Pod, 1 when one stays reachable",
		Long: `gate runs as the first init container kestra-guard adds to a guarded Pod. It tries
each endpoint (a metadata service's address and port) from inside the Pod and
exits 0 once every one has failed --consecutive times in a row, so no later
container runs task code before the NetworkPolicy enforcer blocks metadata
egress for the Pod. When an endpoint is still reachable after --timeout, it
exits 1 with a termination message naming it: NetworkPolicy is not enforced
for the Pod, and the task does not start.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringSliceVar(&c.Endpoints, "endpoints", nil, "host:port addresses that must be unreachable (IP literals)")
	f.IntVar(&c.Consecutive, "consecutive", c.Consecutive, "failed attempts in a row that make an endpoint blocked")
	f.DurationVar(&c.AttemptTimeout, "attempt-timeout", c.AttemptTimeout, "bound of one connection attempt")
	f.DurationVar(&c.Interval, "interval", c.Interval, "pause between two rounds of attempts")
	f.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of the whole wait")
	f.StringVar(&c.Canary, "canary", "", "host:port that must answer in the same round for that round's failures to count (proves the Pod's network carries packets)")
	f.StringVar(&messagePath, "termination-message-path", TerminationLog, "file the verdict is written to (empty: none)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		res, err := gate.Run(cmd.Context(), c, nil)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("gate: %w", err)}
		}
		msg := res.Message(c)
		_, _ = fmt.Fprintln(s.Out, msg)
		if messagePath != "" {
			// Best effort: the verdict is also on stdout, which the kubelet
			// falls back to (terminationMessagePolicy FallbackToLogsOnError).
			_ = os.WriteFile(messagePath, []byte(msg), 0o644)
		}
		if !res.Blocked {
			return &ExitError{Code: 1}
		}
		return nil
	}
	return cmd
}
