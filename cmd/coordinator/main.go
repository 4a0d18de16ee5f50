package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/internal/healthcheck"
	"github.com/ringtrain/ringtrain/internal/logflag"
)

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "coordinator:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

func newRoot() *cobra.Command {
	var (
		verbose   bool
		logFormat string
	)
	root := &cobra.Command{
		Use:           "coordinator",
		Short:         "Train multilayer perceptrons on one machine or a ring of workers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logflag.New(cmd.ErrOrStderr(), logFormat, verbose)
			if err != nil {
				return err
			}
			slog.SetDefault(log)
			return nil
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug detail")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "logs as "+logflag.Formats+" (one object a line, for log shippers)")
	root.AddCommand(newRunCmd(), newServeCmd(), newSubmitCmd(), newWatchCmd(), newJobsCmd(), newStatusCmd(),
		newCancelCmd(), newWorkersCmd(), newModelCmd(), newHistoryCmd(), newPlotCmd(), newCertsCmd(), newEvalCmd(), newPredictCmd(), healthcheck.Command("coordinator", "localhost:7070"))
	return root
}
