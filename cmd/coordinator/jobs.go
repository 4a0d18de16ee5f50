package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func newJobsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the coordinator's jobs, oldest first",
		Args:  cobra.NoArgs,
	}
	f := addClusterFlags(cmd, true, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		defer cancel()
		resp, err := c.ListJobs(ctx, &ringtrainv1.ListJobsRequest{})
		if err != nil {
			return describe(err, "list jobs", "")
		}
		if f.json() {
			return printJSON(cmd.OutOrStdout(), resp)
		}
		return writeJobs(cmd.OutOrStdout(), resp.GetJobs(), time.Now())
	}
	return cmd
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status JOB",
		Short: "Show one job in detail",
		Args:  cobra.ExactArgs(1),
	}
	f := addClusterFlags(cmd, true, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		defer cancel()
		j, err := c.GetJob(ctx, &ringtrainv1.GetJobRequest{JobId: args[0]})
		if err != nil {
			return describe(err, "get job "+args[0], args[0])
		}
		if f.json() {
			return printJSON(cmd.OutOrStdout(), j)
		}
		return writeJob(cmd.OutOrStdout(), j, time.Now())
	}
	return cmd
}

func newCancelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Stop a queued or running job",
		Args:  cobra.ExactArgs(1),
	}
	f := addClusterFlags(cmd, true, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		defer cancel()
		j, err := c.CancelJob(ctx, &ringtrainv1.CancelJobRequest{JobId: args[0]})
		if err != nil {
			return describe(err, "cancel job "+args[0], args[0])
		}
		fmt.Fprintln(cmd.OutOrStdout(), cancelMessage(j))
		return nil
	}
	return cmd
}

// cancelMessage says what cancelling did to j, given its state after the call:
// a running job stops asynchronously, a finished one is left as it was.
func cancelMessage(j *ringtrainv1.Job) string {
	switch j.GetState() {
	case ringtrainv1.JobState_JOB_STATE_CANCELLED:
		return fmt.Sprintf("job %s cancelled", j.GetId())
	case ringtrainv1.JobState_JOB_STATE_SUCCEEDED, ringtrainv1.JobState_JOB_STATE_FAILED:
		return fmt.Sprintf("job %s had already %s", j.GetId(), stateName(j.GetState()))
	}
	return fmt.Sprintf("job %s is being cancelled", j.GetId())
}

func newWorkersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List the workers registered with the cluster",
		Args:  cobra.NoArgs,
	}
	f := addClusterFlags(cmd, true, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		defer cancel()
		resp, err := c.ListWorkers(ctx, &ringtrainv1.ListWorkersRequest{})
		if err != nil {
			return describe(err, "list workers", "")
		}
		if f.json() {
			return printJSON(cmd.OutOrStdout(), resp)
		}
		return writeWorkers(cmd.OutOrStdout(), resp.GetWorkers())
	}
	return cmd
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// writeJobs writes jobs as a table, their ages as of now.
func writeJobs(w io.Writer, jobs []*ringtrainv1.Job, now time.Time) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tEPOCH\tWORKERS\tTEST ACC\tAGE")
	for _, j := range jobs {
		acc := "-"
		if testAccuracy(j) {
			acc = fmt.Sprintf("%.2f%%", 100*j.GetSavedTestAccuracy())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", j.GetId(), j.GetName(), stateName(j.GetState()),
			j.GetEpoch(), j.GetEpochs(), j.GetWorkers(), acc, age(now.Sub(time.UnixMilli(j.GetCreatedUnixMs()))))
	}
	return tw.Flush()
}

// testAccuracy reports whether j's saved model has a test accuracy: it
// classifies, has a test set, and an epoch has been kept.
func testAccuracy(j *ringtrainv1.Job) bool {
	return j.GetClassifies() && j.GetBestTestEpoch() > 0 && j.GetSavedEpoch() > 0
}

// age is d as a table shows it: in its largest whole unit, 2 of which
// at least, so that "90s" is not rounded down to "1m".
func age(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", max(int(d/time.Second), 0))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// writeJob writes j field by field, leaving out what it does not have yet.
func writeJob(w io.Writer, j *ringtrainv1.Job, now time.Time) error {
	tw := newTable(w)
	row := func(name, format string, args ...any) { fmt.Fprintf(tw, name+":\t"+format+"\n", args...) }
	row("ID", "%s", j.GetId())
	row("Name", "%s", j.GetName())
	row("State", "%s", stateName(j.GetState()))
	row("Epoch", "%d/%d", j.GetEpoch(), j.GetEpochs())
	workers := fmt.Sprintf("%d (needs %d)", j.GetWorkers(), max(j.GetMinWorkers(), 1))
	if g := j.GetGeneration(); g > 0 {
		workers += fmt.Sprintf(", ring generation %d", g)
	}
	row("Workers", "%s", workers)
	created := time.UnixMilli(j.GetCreatedUnixMs()).In(now.Location())
	row("Created", "%s (%s ago)", created.Format(time.DateTime), age(now.Sub(created)))
	if s := j.GetWallSeconds(); s > 0 {
		row("Wall time", "%s", seconds(s).Round(100*time.Millisecond))
	}
	if j.GetClassifies() && j.GetBestTestEpoch() > 0 {
		row("Best test accuracy", "%.2f%% (epoch %d)", 100*j.GetBestTestAccuracy(), j.GetBestTestEpoch())
	}
	if j.GetSavedEpoch() > 0 {
		// A model is written when the job ends, unless it failed; until
		// then this is the epoch that would be kept.
		name, note := "Best model so far", ""
		switch {
		case hasModel(j):
			name = "Saved model"
		case j.GetState() == ringtrainv1.JobState_JOB_STATE_FAILED:
			name, note = "Best epoch", " (no model: the job failed)"
		}
		if testAccuracy(j) {
			row(name, "epoch %d, test accuracy %.2f%%%s", j.GetSavedEpoch(), 100*j.GetSavedTestAccuracy(), note)
		} else {
			row(name, "epoch %d%s", j.GetSavedEpoch(), note)
		}
	}
	if t := j.GetTargetAccuracy(); t > 0 {
		row("Target accuracy", "%.2f%%", 100*t)
	}
	if s := j.GetStopped(); s != "" {
		row("Stopped", "%s", s)
	}
	if e := j.GetError(); e != "" {
		row("Error", "%s", e)
	}
	return tw.Flush()
}

// writeWorkers writes workers as a table.
func writeWorkers(w io.Writer, workers []*ringtrainv1.Worker) error {
	if len(workers) == 0 {
		_, err := fmt.Fprintln(w, "no workers")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tADDR")
	for _, wk := range workers {
		fmt.Fprintf(tw, "%s\t%s\n", wk.GetId(), wk.GetAddr())
	}
	return tw.Flush()
}
