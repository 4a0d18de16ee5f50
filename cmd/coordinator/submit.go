package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newSubmitCmd() *cobra.Command {
	var (
		file       string
		minWorkers int32
		watch      bool
	)
	cmd := &cobra.Command{
		Use:   "submit -f JOB.yaml",
		Short: "Submit a job to the coordinator and print its id",
		Long: "Submit the job spec as written; the coordinator checks it, refusing it with the offending\n" +
			"field named, and queues the job. Prints the job's id, or with --output json the job.\n" +
			"With --watch, then follows the job like watch (with --output json: its events only, the\n" +
			"first of which carries the job) and exits non-zero when it fails, is cancelled or misses\n" +
			"training.target_accuracy.",
		Args: cobra.NoArgs,
	}
	f := addClusterFlags(cmd, true, true)
	cmd.Flags().StringVarP(&file, "file", "f", "", "job spec (YAML)")
	cmd.Flags().Int32Var(&minWorkers, "min-workers", 0, "workers the job needs to run an epoch: it waits for them to start, and again if workers die below it (0: one)")
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the job until it ends")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		j, err := submitFile(ctx, c, file, minWorkers)
		cancel()
		if err != nil {
			return err
		}
		switch {
		case f.json() && watch:
			// One shape per line: the watch's first event carries the job.
		case f.json():
			return printJSON(cmd.OutOrStdout(), j)
		default:
			fmt.Fprintln(cmd.OutOrStdout(), j.GetId())
		}
		if !watch {
			return nil
		}
		return follow(cmd, f, c, j.GetId())
	}
	return cmd
}
