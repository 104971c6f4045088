// Package cli holds kestra-guard's commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ExitError carries a process exit status other than 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// NewRoot builds the kestra-guard command. serve is injectable so that flag
// and config handling can be tested without starting a server.
func NewRoot(s Streams, serve ServeFunc) *cobra.Command {
	root := &cobra.Command{
		Use:           "kestra-guard",
		Short:         "Admission webhook that makes Kestra's task-runner Pods safe by construction",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(newCheck(s), newMutate(s), newServe(serve), newAudit(s), newRules(s), newVersion(s), newGate(s))
	return root
}

// Execute runs the command line and returns the process exit status.
func Execute(ctx context.Context, s Streams, args []string, serve ServeFunc) int {
	root := NewRoot(s, serve)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			_, _ = fmt.Fprintln(s.Err, "kestra-guard:", ee.Err)
		}
		return ee.Code
	}
	_, _ = fmt.Fprintln(s.Err, "kestra-guard:", err)
	return 2
}
