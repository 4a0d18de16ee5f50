package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/progress"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func newWatchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch JOB",
		Short: "Follow a job's progress until it ends",
		Long: "Follow the job's progress: a progress bar on a terminal, one line per epoch otherwise, or\n" +
			"with --output json one JSON line per event. Exits non-zero when the job fails, is cancelled\n" +
			"or misses training.target_accuracy. Ctrl-C stops watching, not the job. When the coordinator\n" +
			"restarts (or a standby takes over), it watches again for up to 2 minutes.",
		Args: cobra.ExactArgs(1),
	}
	f := addClusterFlags(cmd, false, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		return follow(cmd, f, c, args[0])
	}
	return cmd
}

// follow watches job id on cmd's output, as text or JSON as f says, and
// returns the job's outcome.
func follow(cmd *cobra.Command, f *clusterFlags, c ringtrainv1.JobServiceClient, id string) error {
	var (
		p       *progress.Printer
		jsonOut io.Writer
	)
	if f.json() {
		jsonOut = cmd.OutOrStdout()
	} else {
		p = progress.New(cmd.OutOrStdout(), isTerminal(cmd.OutOrStdout()))
	}
	j, err := watchJob(cmd.Context(), c, id, p, jsonOut, cmd.ErrOrStderr())
	if err != nil {
		if cmd.Context().Err() != nil {
			return &exitError{code: 130, err: fmt.Errorf("interrupted; job %s goes on (coordinator cancel %s stops it)", id, id)}
		}
		return err
	}
	return jobOutcome(j)
}

// isTerminal reports whether w is a terminal, where a progress bar can be
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// reconnectFor is how long watchJob keeps trying to reach a coordinator
// that went away mid-watch: long enough for a restart or a standby's
// takeover.
const reconnectFor = 2 * time.Minute

// watchJob follows job id's events until the job ends and returns it as it
// ended. Progress and, at the end, a summary go to out; every event goes to
// jsonOut as a JSON line. Either may be nil. When a coordinator that has
// answered goes away (restarted, or replaced by a standby) it says so on
// warn and watches again, for up to reconnectFor without an answer.
func watchJob(ctx context.Context, c ringtrainv1.JobServiceClient, id string, out *progress.Printer, jsonOut, warn io.Writer) (*ringtrainv1.Job, error) {
	v := view{p: out}
	var last *ringtrainv1.Job
	var lostSince time.Time
	delay := 250 * time.Millisecond
	for {
		answered, err := watchOnce(ctx, c, id, &v, jsonOut, &last)
		if err == nil {
			if !finished(last.GetState()) {
				return last, fmt.Errorf("job %s: watch ended before job finished", id)
			}
			break
		}
		if answered {
			lostSince, delay = time.Time{}, 250*time.Millisecond
		}
		switch {
		case ctx.Err() != nil || status.Code(err) != codes.Unavailable || last == nil:
			// Only a coordinator that answered once is waited for.
			return last, describe(err, "watch job "+id, id)
		case lostSince.IsZero():
			lostSince = time.Now()
			fmt.Fprintf(warn, "coordinator unavailable (%s); watching job %s again when it is back\n", status.Convert(err).Message(), id)
		case time.Since(lostSince) > reconnectFor:
			return last, fmt.Errorf("job %s: no coordinator for %v: %w", id, reconnectFor, describe(err, "watch job "+id, id))
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
	if out != nil {
		printSummary(out, last)
	}
	return last, nil
}

// watchOnce runs one watch stream of job id, showing its events and
// keeping the latest job state in last, until the stream ends: nil when
// the server ended it. answered says whether any event came.
func watchOnce(ctx context.Context, c ringtrainv1.JobServiceClient, id string, v *view, jsonOut io.Writer, last **ringtrainv1.Job) (answered bool, err error) {
	stream, err := c.WatchJob(ctx, &ringtrainv1.WatchJobRequest{JobId: id})
	if err != nil {
		return false, err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return answered, nil
		}
		if err != nil {
			return answered, err
		}
		answered = true
		if jsonOut != nil {
			if err := printJSON(jsonOut, ev); err != nil {
				return answered, err
			}
		}
		if v.p != nil {
			v.show(ev)
		}
		if ev.GetJob() != nil {
			*last = ev.GetJob()
		}
	}
}

// jobOutcome is nil for a job that succeeded and met its
// training.target_accuracy (if it has one), and says what went wrong
// otherwise.
func jobOutcome(j *ringtrainv1.Job) error {
	switch j.GetState() {
	case ringtrainv1.JobState_JOB_STATE_SUCCEEDED:
		if want := j.GetTargetAccuracy(); want > 0 && j.GetSavedTestAccuracy() < want {
			return fmt.Errorf("job %s: test accuracy %.2f%% is below training.target_accuracy %.2f%%", j.GetId(), 100*j.GetSavedTestAccuracy(), 100*want)
		}
		return nil
	case ringtrainv1.JobState_JOB_STATE_FAILED:
		if j.GetError() == "" {
			return fmt.Errorf("job %s failed", j.GetId())
		}
		return fmt.Errorf("job %s failed: %s", j.GetId(), j.GetError())
	case ringtrainv1.JobState_JOB_STATE_CANCELLED:
		return fmt.Errorf("job %s was cancelled", j.GetId())
	}
	return fmt.Errorf("job %s has not finished: it is %s", j.GetId(), stateName(j.GetState()))
}

// hasModel reports whether the coordinator kept a model of the ended job j:
// it keeps the tracked epoch of a job that succeeded or was cancelled once
// an epoch had completed, and nothing of a job that failed.
func hasModel(j *ringtrainv1.Job) bool {
	s := j.GetState()
	return (s == ringtrainv1.JobState_JOB_STATE_SUCCEEDED || s == ringtrainv1.JobState_JOB_STATE_CANCELLED) && j.GetSavedEpoch() > 0
}

func finished(s ringtrainv1.JobState) bool {
	return s == ringtrainv1.JobState_JOB_STATE_SUCCEEDED || s == ringtrainv1.JobState_JOB_STATE_FAILED || s == ringtrainv1.JobState_JOB_STATE_CANCELLED
}

// stateName is a state as people write it: "running".
func stateName(s ringtrainv1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

// view shows a job's events to a person.
type view struct {
	p       *progress.Printer
	job     *ringtrainv1.Job // as last seen
	workers int32            // of the last epoch line
}

func (v *view) show(ev *ringtrainv1.JobEvent) {
	if j := ev.GetJob(); j != nil {
		if j.GetState() != v.job.GetState() {
			if line := stateLine(j); line != "" {
				v.p.Line("%s", line)
			}
		}
		v.job = j
	}
	switch e := ev.GetEvent().(type) {
	case *ringtrainv1.JobEvent_Step:
		v.p.Step(stepUpdate(e.Step))
	case *ringtrainv1.JobEvent_Epoch:
		v.p.Line("%s", epochLine(e.Epoch, v.job.GetEpochs(), v.job.GetClassifies(), v.workers))
		v.workers = e.Epoch.GetWorkers()
	case *ringtrainv1.JobEvent_Message:
		v.p.Line("%s", e.Message)
	}
}

// stateLine announces a job that is waiting or running; how a job ended is
// the summary's business.
func stateLine(j *ringtrainv1.Job) string {
	switch j.GetState() {
	case ringtrainv1.JobState_JOB_STATE_QUEUED:
		return fmt.Sprintf("job %s queued (needs %d workers)", j.GetId(), max(j.GetMinWorkers(), 1))
	case ringtrainv1.JobState_JOB_STATE_RUNNING:
		return fmt.Sprintf("job %s running: %d/%d epochs done", j.GetId(), j.GetEpoch(), j.GetEpochs())
	}
	return ""
}

func stepUpdate(s *ringtrainv1.StepProgress) progress.Update {
	return progress.Update{
		Epoch: int(s.GetEpoch()), Epochs: int(s.GetEpochs()), Step: int(s.GetStep()), Steps: int(s.GetSteps()),
		Loss: s.GetLoss(), SamplesPerSec: s.GetSamplesPerSec(), ETA: seconds(s.GetEtaSeconds()), Workers: int(s.GetWorkers()),
	}
}

// epochLine formats an epoch as run does, naming the number of workers
// when it differs from prevWorkers. Without classes, RMSE, MAE and R² stand in for
// accuracies.
func epochLine(e *ringtrainv1.EpochSummary, epochs int32, classifies bool, prevWorkers int32) string {
	line := fmt.Sprintf("epoch %d/%d  loss %.4f", e.GetEpoch(), epochs, e.GetTrainLoss())
	switch {
	case classifies && e.GetHasVal():
		line += fmt.Sprintf("  val %.2f%%", 100*e.GetValAccuracy())
	case e.GetHasVal():
		line += regressionScore("val", e.GetValRmse(), e.GetValMae(), e.GetValR2())
	}
	switch {
	case classifies && e.GetHasTest():
		line += fmt.Sprintf("  test %.2f%%", 100*e.GetTestAccuracy())
	case e.GetHasTest():
		line += regressionScore("test", e.GetTestRmse(), e.GetTestMae(), e.GetTestR2())
	}
	line += fmt.Sprintf("  %s samples/s  %s", progress.Count(e.GetSamplesPerSec()), seconds(e.GetElapsedSeconds()).Round(100*time.Millisecond))
	if e.GetWorkers() != prevWorkers {
		line += fmt.Sprintf("  workers %d", e.GetWorkers())
	}
	if e.GetBest() {
		line += "  *"
	}
	return line
}

// regressionScore formats a set's regression scores in an epoch line.
func regressionScore(name string, rmse, mae, r2 float64) string {
	return fmt.Sprintf("  %s rmse %.4g mae %.4g r² %.4f", name, rmse, mae, r2)
}

// printSummary says how a job ended, as run's report does.
func printSummary(p *progress.Printer, j *ringtrainv1.Job) {
	stopped := j.GetStopped()
	if stopped == "" {
		stopped = stateName(j.GetState())
	}
	p.Line("%s after %d epochs in %s", stopped, j.GetEpoch(), seconds(j.GetWallSeconds()).Round(100*time.Millisecond))
	if j.GetClassifies() && j.GetBestTestEpoch() > 0 {
		p.Line("best test accuracy %.2f%% (epoch %d)", 100*j.GetBestTestAccuracy(), j.GetBestTestEpoch())
	}
	if hasModel(j) {
		if testAccuracy(j) {
			p.Line("saved model: epoch %d, test accuracy %.2f%%", j.GetSavedEpoch(), 100*j.GetSavedTestAccuracy())
		} else {
			p.Line("saved model: epoch %d", j.GetSavedEpoch())
		}
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
