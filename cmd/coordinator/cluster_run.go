package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/internal/blas"
	"github.com/ringtrain/ringtrain/internal/progress"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/localcluster"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// runCluster trains the job on an in-process cluster of n workers: an
// embedded etcd, the coordinator service and n workers, all talking real
// gRPC over loopback, and the ring's data over TCP (or gRPC) on loopback.
// cfg's Dir is a temporary directory when empty; its Logger is set here.
func runCluster(cmd *cobra.Command, file string, spec *jobspec.Spec, cfg localcluster.Config, p *progress.Printer) (err error) {
	ctx := cmd.Context()
	n := cfg.Workers
	if cfg.Dir == "" {
		tmp, terr := os.MkdirTemp("", "ringtrain-run-")
		if terr != nil {
			return fmt.Errorf("data directory: %w", terr)
		}
		defer joinErr(&err, "remove data directory", func() error { return os.RemoveAll(tmp) })
		cfg.Dir = tmp
	}
	// n workers share this machine's cores: give each its share of BLAS
	// threads rather than letting every GEMM claim all of them.
	blas.SetThreads(max(1, runtime.NumCPU()/n))
	// The cluster's routine logs would break the progress bar; -v shows them.
	log := slog.Default()
	if !log.Enabled(ctx, slog.LevelDebug) {
		log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.Logger = log
	c, err := localcluster.Start(ctx, cfg)
	if err != nil {
		return err
	}
	// A worker or the coordinator that failed shows here.
	defer joinErr(&err, "stop the in-process cluster", c.Close)
	jobs := ringtrainv1.NewJobServiceClient(c.Conn())
	j, err := submitFile(ctx, jobs, file, int32(n))
	if err != nil {
		return err
	}
	p.Line("job %s: %s workers in this process, BLAS %s; coordinator %s, etcd %s", j.GetId(), progress.Count(float64(n)), blas.Backend(), c.CoordinatorAddr(), c.EtcdEndpoints()[0])
	stopped := context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := jobs.CancelJob(cctx, &ringtrainv1.CancelJobRequest{JobId: j.GetId()}); err != nil {
			slog.Warn("cancel job", "job", j.GetId(), "error", err)
		}
	})
	defer stopped()
	// The watch outlives an interrupt: it ends when the cancelled job does.
	final, err := watchJob(context.WithoutCancel(ctx), jobs, j.GetId(), p, nil, io.Discard)
	if err != nil {
		return err
	}
	// The learning curve goes beside the model, as --workers 0 keeps it.
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	h, err := fetchHistory(hctx, jobs, j.GetId())
	hcancel()
	if err != nil {
		return err
	}
	if err := h.Save(spec.Output.Dir); err != nil {
		return err
	}
	return saveRun(ctx, jobs, final, filepath.Join(spec.Output.Dir, "model.safetensors"), p)
}

// saveRun downloads the model of the ended job j to path, if the job kept
// one, and returns how the run ended: an interruption when ctx is done,
// else the job's outcome.
func saveRun(ctx context.Context, jobs ringtrainv1.JobServiceClient, j *ringtrainv1.Job, path string, p *progress.Printer) error {
	if hasModel(j) {
		b, err := downloadModel(context.WithoutCancel(ctx), jobs, j.GetId())
		if err != nil {
			return err
		}
		if _, err := checkpoint.DecodeModel[float32](b); err != nil {
			return fmt.Errorf("downloaded model: %w", err)
		}
		if err := checkpoint.WriteFile(path, b); err != nil {
			return err
		}
		p.Line("model saved to %s", path)
	}
	if j.GetState() == ringtrainv1.JobState_JOB_STATE_CANCELLED && ctx.Err() != nil {
		// Unlike --workers 0, a cluster keeps only completed epochs.
		if !hasModel(j) {
			return &exitError{code: 130, err: errors.New("interrupted before an epoch completed; no model saved")}
		}
		return &exitError{code: 130, err: fmt.Errorf("interrupted; the model so far is saved to %s", path)}
	}
	return jobOutcome(j)
}

// joinErr calls release and adds its error, saying what was being done, to
// *err: for deferred clean-ups, whose errors must not be lost.
func joinErr(err *error, what string, release func() error) {
	if rerr := release(); rerr != nil {
		*err = errors.Join(*err, fmt.Errorf("%s: %w", what, rerr))
	}
}
