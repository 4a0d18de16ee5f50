package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// errCanceled ends a run whose job was cancelled by a user; errFatal marks
// an epoch failure that a redo would repeat.
var (
	errCanceled = errors.New("cancelled")
	errFatal    = errors.New("training cannot continue")
)

// runJob runs one job to its end and records how it ended.
func (s *Server) runJob(ctx context.Context, j *job) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j.mu.Lock()
	if j.canceled {
		j.mu.Unlock()
		return
	}
	j.cancel = cancel
	j.mu.Unlock()

	start := time.Now()
	j.update(func(pb *ringtrainv1.Job) { pb.State = ringtrainv1.JobState_JOB_STATE_RUNNING }, nil)
	s.putState(ctx, j)
	res, err := s.train(ctx, j)
	if ctx.Err() != nil && !j.wasCanceled() {
		// The coordinator is stopping, not the job: its record stays as it
		// is, for the next coordinator to resume it. Its workers stop with
		// their plans.
		cleanup, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer done()
		if derr := s.write(cleanup, clientv3.OpDelete(etcdkeys.PlanPrefix(j.id), clientv3.WithPrefix())); derr != nil {
			s.log.Warn("delete plans", "job", j.id, "error", derr)
		}
		s.log.Info("coordinator stopping; the job resumes when a coordinator starts again", "job", j.id)
		return
	}
	j.update(func(pb *ringtrainv1.Job) {
		pb.WallSeconds = time.Since(start).Seconds()
		switch {
		case err == nil:
			pb.State, pb.Stopped = ringtrainv1.JobState_JOB_STATE_SUCCEEDED, res.Stopped
		case errors.Is(err, errCanceled) || (ctx.Err() != nil && j.wasCanceled()):
			// A step that the cancel interrupted may fail with its own
			// error: the job was still cancelled.
			pb.State, pb.Stopped = ringtrainv1.JobState_JOB_STATE_CANCELLED, "cancelled"
		default:
			pb.State, pb.Error = ringtrainv1.JobState_JOB_STATE_FAILED, err.Error()
		}
	}, nil)
	// Plans of an ended job must not linger where workers watch.
	cleanup, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer done()
	if derr := s.write(cleanup, clientv3.OpDelete(etcdkeys.Job(j.id), clientv3.WithPrefix())); derr != nil {
		s.log.Warn("delete job keys", "job", j.id, "error", derr)
	}
	s.putState(cleanup, j)
	snap := j.snapshot()
	s.cfg.Metrics.ended.WithLabelValues(strings.ToLower(strings.TrimPrefix(snap.State.String(), "JOB_STATE_"))).Inc()
	s.log.Info("job ended", "job", j.id, "state", snap.State.String(), "epochs", snap.Epoch, "error", snap.Error)
}

func (j *job) wasCanceled() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.canceled
}

func (s *Server) train(ctx context.Context, j *job) (*train.Result, error) {
	if j.spec.Training.Precision == precision.Float64 {
		return trainIn[float64](ctx, s, j)
	}
	return trainIn[float32](ctx, s, j)
}

func trainIn[T nn.Float](ctx context.Context, s *Server, j *job) (*train.Result, error) {
	spec := j.spec
	loading := time.Now()
	sets, err := train.LoadData(spec)
	if err != nil {
		return nil, err
	}
	enc, err := sets.Train.EncodeParts()
	if err != nil {
		return nil, err
	}
	s.cfg.Metrics.dataLoad.Observe(time.Since(loading).Seconds())
	rep, err := train.NewReplica[T](spec, train.ShapeOf(sets.Train), sets.Train.Len(), 1)
	if err != nil {
		return nil, err
	}
	eval := train.NewEvaluator(rep.Net, sets)
	track := train.NewTracker(rep.Net.Params(), sets.Val != nil, spec.Training.EarlyStopping.Patience)
	steps := shard.NewBatches(spec.Training.Seed, 0, sets.Train.Len(), spec.Training.BatchSize).Steps()
	digest := sha256.New()
	for _, b := range enc {
		digest.Write(b)
	}
	j.mu.Lock()
	j.dataset, j.dataSum = enc, hex.EncodeToString(digest.Sum(nil))
	j.history.Task = train.TaskOf(rep.Net.Arch())
	resume := j.resume
	j.resume = nil
	j.mu.Unlock()
	ep, sum, err := start(ctx, s, j, rep, resume)
	if err != nil {
		return nil, err
	}
	j.update(func(pb *ringtrainv1.Job) { pb.Classifies = sets.Train.Labels != nil }, nil)
	if ep > 0 && resumeTracker(s, j, track, rep, ep) {
		return saveModel(s, j, rep, track, sets, nil) // early stopping had ended the job
	}
	r := &ringEpochs[T]{s: s, j: j, rep: rep, sum: sum, steps: steps, sched: spec.Training.LearningRates(steps)}
	loop := &train.Loop[T]{Rep: rep, Eval: eval, Track: track, Epochs: spec.Training.Epochs, Began: time.Now(),
		Train: r.train,
		Evaluated: func(er *train.EpochReport) error {
			recordEpoch(ctx, s, j, track, rep, er)
			return nil
		},
	}
	return saveModel(s, j, rep, track, sets, loop.Run(ctx, ep))
}

// ringEpochs trains a job's epochs on rings of workers.
type ringEpochs[T nn.Float] struct {
	s     *Server
	j     *job
	rep   *train.Replica[T]
	sum   string         // the checksum of the state the next epoch starts from
	prev  []epoch.Member // the last ring's members
	steps int            // per epoch
	sched optim.Schedule
}

// etcdRetryPause is how long an epoch waits after etcd failed to list or
// watch the workers before it tries again.
const etcdRetryPause = time.Second

// train has epoch ep run by the live workers, again from its checkpoint
// when an attempt fails, up to MaxAttempts; then it verifies the checkpoint
// the ring agreed on, keeps it, and loads it into the replica.
func (r *ringEpochs[T]) train(ctx context.Context, ep int, settle func()) (train.EpochReport, error) {
	s, j := r.s, r.j
	var out *report
	var last error // why the last attempt failed
	attempts := 0
	for out == nil {
		attempts++
		if attempts > s.cfg.MaxAttempts {
			return train.EpochReport{}, fmt.Errorf("epoch %d failed %d times; giving up; the last time: %w", ep+1, s.cfg.MaxAttempts, last)
		}
		members, err := s.waitWorkers(ctx, j)
		if errors.Is(err, errCanceled) {
			return train.EpochReport{}, err
		}
		if err != nil {
			last = err
			if attempts == s.cfg.MaxAttempts {
				continue // no attempt left to wait for
			}
			// etcd answers no watch while it elects a leader: a moment
			// without one costs an attempt, not the job.
			s.cfg.Metrics.retries.WithLabelValues("etcd").Inc()
			msg := fmt.Sprintf("epoch %d attempt %d: %v; trying again in %v", ep+1, attempts, err, etcdRetryPause)
			s.log.Warn("cannot watch the workers", "job", j.id, "epoch", ep+1, "attempt", attempts, "error", err)
			j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Message{Message: msg}})
			select {
			case <-ctx.Done():
				return train.EpochReport{}, errCanceled
			case <-time.After(etcdRetryPause):
			}
			continue
		}
		plan := &epoch.Plan{Job: j.id, Epoch: ep, Generation: s.nextGeneration(), Members: members, Checksum: r.sum}
		if !slices.Equal(r.prev, members) {
			msg := fmt.Sprintf("ring of %d workers (generation %d): %s", len(members), plan.Generation, strings.Join(plan.IDs(), ", "))
			s.log.Info("ring changed", "job", j.id, "epoch", ep+1, "workers", len(members), "generation", plan.Generation)
			j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Message{Message: msg}})
			r.prev = members
		}
		j.update(func(pb *ringtrainv1.Job) { pb.Workers, pb.Generation = int32(len(members)), plan.Generation }, nil)
		s.cfg.Metrics.workers.WithLabelValues(j.id).Set(float64(len(members)))
		out, err = s.attempt(ctx, j, plan)
		if err != nil {
			if ctx.Err() != nil {
				return train.EpochReport{}, errCanceled
			}
			if errors.Is(err, errFatal) {
				return train.EpochReport{}, fmt.Errorf("epoch %d: %w", ep+1, err)
			}
			last = err
			s.cfg.Metrics.retries.WithLabelValues(retryCause(err)).Inc()
			msg := fmt.Sprintf("epoch %d attempt %d failed: %v; redoing it from the last checkpoint", ep+1, attempts, err)
			s.log.Warn("epoch attempt failed", "job", j.id, "epoch", ep+1, "attempt", attempts, "error", err)
			j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Message{Message: msg}})
			r.prev = nil
		}
	}
	c, err := checkpoint.DecodeCheckpoint[T](out.checkpoint)
	if err != nil {
		return train.EpochReport{}, fmt.Errorf("epoch %d: checkpoint from %s: %w", ep+1, out.worker, err)
	}
	if got := epoch.Checksum(c.Params, c.OptimizerState, c.Steps); got != out.result.GetChecksum() || c.Epoch != ep+1 {
		return train.EpochReport{}, fmt.Errorf("epoch %d: checkpoint from %s has checksum %s for epoch %d, its members agreed on %s", ep+1, out.worker, got, c.Epoch, out.result.GetChecksum())
	}
	settle()
	copy(r.rep.Net.Params(), c.Params)
	if err := r.rep.Opt.Restore(c.OptimizerState, c.Steps); err != nil {
		return train.EpochReport{}, fmt.Errorf("epoch %d: %w", ep+1, err)
	}
	// The checkpoint verified is the one to keep, as it came.
	if err := storeCheckpoint(j, out.checkpoint, ep+1); err != nil {
		return train.EpochReport{}, err
	}
	j.update(func(pb *ringtrainv1.Job) {
		pb.CheckpointEpoch, pb.CheckpointChecksum = int32(ep+1), out.result.GetChecksum()
	}, nil)
	s.putState(ctx, j)
	r.sum = out.result.GetChecksum()
	return train.EpochReport{Epoch: ep + 1, Epochs: j.spec.Training.Epochs, TrainLoss: out.result.GetTrainLoss(),
		SamplesPerSec: float64(out.result.GetSamples()) / out.result.GetSeconds(),
		LearningRate:  r.sched.At(int64((ep+1)*r.steps-1), ep), Workers: len(r.prev), Attempts: attempts}, nil
}

// recordEpoch keeps er, an evaluated epoch: the best parameters, the job's
// metrics, history and record, and an event for its watchers.
func recordEpoch[T nn.Float](ctx context.Context, s *Server, j *job, track *train.Tracker[T], rep *train.Replica[T], er *train.EpochReport) {
	if er.Best && er.Val != nil {
		// A coordinator that resumes the job needs the best epoch's
		// parameters, which no checkpoint may hold any more.
		if err := saveBest(j, rep, er.Epoch); err != nil {
			s.log.Warn("save the best parameters", "job", j.id, "error", err)
		}
	}
	s.cfg.Metrics.recordEpoch(j.id, er)
	if err := j.recordEpoch(er); err != nil {
		s.log.Warn("save history", "job", j.id, "error", err)
	}
	res := track.Result()
	j.update(func(pb *ringtrainv1.Job) {
		pb.Epoch = int32(er.Epoch)
		pb.SavedEpoch = int32(res.SavedEpoch)
		if res.SavedTest != nil {
			pb.SavedTestAccuracy = res.SavedTest.Accuracy
		}
		pb.BestTestAccuracy, pb.BestTestEpoch = res.BestTestAccuracy, int32(res.BestTestEpoch)
	}, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Epoch{Epoch: summary(er)}})
	s.putState(ctx, j)
}

// saveModel returns the run's result with cause, the error that ended the
// run (nil when it completed), and decides which runs keep a model: one
// that completed or was cancelled keeps its tracked model, if any epoch
// completed; one that failed keeps none, as a local run that fails saves
// none.
func saveModel[T nn.Float](s *Server, j *job, rep *train.Replica[T], track *train.Tracker[T], sets *train.Datasets, cause error) (*train.Result, error) {
	res := track.Result()
	if res.Epochs == 0 || (cause != nil && !errors.Is(cause, errCanceled)) {
		return res, cause
	}
	if res.Stopped == "" {
		res.Stopped = "completed"
	}
	res.ModelPath = filepath.Join(j.dir, "model.safetensors")
	m := &checkpoint.Model[T]{Arch: rep.Net.Arch(), Params: track.Params(), Labels: sets.Labels, Scaler: sets.Scaler, TargetScaler: sets.TargetScaler}
	if err := checkpoint.SaveModel(res.ModelPath, m); err != nil {
		return nil, errors.Join(cause, err)
	}
	j.mu.Lock()
	j.model = res.ModelPath
	j.mu.Unlock()
	return res, cause
}

func summary(er *train.EpochReport) *ringtrainv1.EpochSummary {
	s := &ringtrainv1.EpochSummary{Epoch: int32(er.Epoch), TrainLoss: er.TrainLoss, SamplesPerSec: er.SamplesPerSec,
		ElapsedSeconds: er.Elapsed.Seconds(), Best: er.Best, Workers: int32(er.Workers), Attempts: int32(er.Attempts)}
	if v := er.Val; v != nil {
		s.HasVal, s.ValLoss, s.ValAccuracy = true, v.Loss, v.Accuracy
		s.ValRmse, s.ValMae, s.ValR2 = v.RMSE, v.MAE, v.R2
	}
	if v := er.Test; v != nil {
		s.HasTest, s.TestLoss, s.TestAccuracy = true, v.Loss, v.Accuracy
		s.TestRmse, s.TestMae, s.TestR2 = v.RMSE, v.MAE, v.R2
	}
	return s
}

// saveCheckpoint stores the replica's state as the checkpoint after epochs
// completed epochs and returns its checksum.
func saveCheckpoint[T nn.Float](s *Server, j *job, rep *train.Replica[T], epochs int) (string, error) {
	c := &checkpoint.Checkpoint[T]{
		Model:          checkpoint.Model[T]{Arch: rep.Net.Arch(), Params: rep.Net.Params()},
		OptimizerState: rep.Opt.State(), Steps: rep.Opt.Steps(), Epoch: epochs, Seed: j.spec.Training.Seed,
	}
	b, err := c.Encode()
	if err != nil {
		return "", fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := storeCheckpoint(j, b, epochs); err != nil {
		return "", err
	}
	return epoch.Checksum(c.Params, c.OptimizerState, c.Steps), nil
}

// storeCheckpoint keeps b, an encoded checkpoint, as the one after epochs
// completed epochs: in memory for workers, and on disk.
func storeCheckpoint(j *job, b []byte, epochs int) error {
	if err := checkpoint.WriteFile(filepath.Join(j.dir, "checkpoint.safetensors"), b); err != nil {
		return err
	}
	j.mu.Lock()
	j.ckpt, j.ckptEp = b, epochs
	j.mu.Unlock()
	return nil
}

// nextGeneration returns a ring generation larger than any handed out
// before, also across coordinator restarts: it starts from the clock.
func (s *Server) nextGeneration() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen = max(s.gen+1, uint64(time.Now().UnixMilli()))
	return s.gen
}

// waitWorkers returns the live workers, in ID order, once there are at least
// the job's minimum.
func (s *Server) waitWorkers(ctx context.Context, j *job) ([]epoch.Member, error) {
	want := int(j.snapshot().GetMinWorkers())
	var members []epoch.Member
	logged := false
	err := membership.Watch(ctx, s.cfg.Etcd, func(snap membership.Snapshot) error {
		if len(snap.Members) < want {
			if !logged {
				s.log.Info("waiting for workers", "job", j.id, "have", len(snap.Members), "want", want)
				logged = true
			}
			return nil
		}
		for _, m := range snap.Members {
			members = append(members, epoch.Member{ID: m.ID, Addr: m.Addr})
		}
		return errEnough
	})
	if errors.Is(err, errEnough) {
		return members, nil
	}
	if ctx.Err() != nil {
		return nil, errCanceled
	}
	return nil, fmt.Errorf("wait for workers: %w", err)
}

var errEnough = errors.New("enough workers")

// attempt publishes plan and waits for its outcome: rank 0's completed
// epoch, or the first failure (a member's report, a member leaving, a
// stall).
func (s *Server) attempt(ctx context.Context, j *job, plan *epoch.Plan) (*report, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	key := etcdkeys.Plan(j.id, plan.Epoch)
	if err := s.write(actx, clientv3.OpPut(key, plan.Marshal())); err != nil {
		return nil, fmt.Errorf("publish plan: %w", err)
	}
	defer func() {
		dctx, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer done()
		if err := s.write(dctx, clientv3.OpDelete(key)); err != nil {
			s.log.Warn("withdraw plan", "job", j.id, "error", err)
		}
	}()
	lost := make(chan error, 1)
	watched := make(chan struct{})
	defer func() { cancel(nil); <-watched }()
	go func() {
		defer close(watched)
		err := membership.Watch(actx, s.cfg.Etcd, func(snap membership.Snapshot) error {
			for _, id := range plan.IDs() {
				if !slices.ContainsFunc(snap.Members, func(m membership.Worker) bool { return m.ID == id }) {
					return fmt.Errorf("worker %s %w", id, errLeftCluster)
				}
			}
			return nil
		})
		if actx.Err() == nil {
			lost <- err
		}
	}()
	stall := time.NewTimer(s.cfg.StallTimeout)
	defer stall.Stop()
	for {
		select {
		case <-actx.Done():
			return nil, actx.Err()
		case err := <-lost:
			return nil, err
		case <-stall.C:
			return nil, fmt.Errorf("%w for %s", errNoProgress, s.cfg.StallTimeout)
		case r := <-j.reports:
			if r.generation != plan.Generation {
				continue // a straggler of an earlier attempt
			}
			// Only the plan's members speak for its outcome: rank 0, which
			// uploads the completed epoch, or any member for a failure. A
			// worker outside the plan, whatever its certificate, is not
			// heard, neither to end the epoch nor to evict a member.
			if rank := plan.Rank(r.worker); r.progress == nil && (rank < 0 || r.result != nil && rank != 0) {
				s.log.Warn("ignoring an epoch report from outside the plan", "job", j.id, "worker", r.worker, "rank", rank, "generation", r.generation)
				continue
			}
			if r.progress != nil {
				stall.Reset(s.cfg.StallTimeout)
				j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Step{Step: r.progress}})
				continue
			}
			if r.result == nil {
				if r.cause == ringtrainv1.FailureCause_FAILURE_CAUSE_DIVERGED {
					// Redoing the epoch would diverge the same way: the run is deterministic.
					return nil, fmt.Errorf("%w (worker %s: %s)", errFatal, r.worker, r.err)
				}
				return nil, s.failed(ctx, j, plan, r)
			}
			return &r, nil
		}
	}
}

// failed returns the error of an attempt that r, a worker's failure report,
// ends, after evicting the member r names as its cause: the next attempt
// then plans without it, instead of waiting for its lease to expire (a
// dead worker's) or planning it again to fail the same way (a stalled
// one's). Only a member of the plan other than the reporter is evicted.
func (s *Server) failed(ctx context.Context, j *job, plan *epoch.Plan, r report) error {
	var err error = &workerFailure{worker: r.worker, text: r.err}
	if r.culprit == "" || r.culprit == r.worker || plan.Rank(r.culprit) < 0 {
		return err
	}
	// Only a leader evicts (a transaction of the fence alone says whether
	// this one still does, a round trip before the revocation).
	eerr := s.write(ctx)
	if eerr == nil {
		eerr = membership.Evict(ctx, s.cfg.Etcd, r.culprit)
	}
	if eerr != nil {
		s.log.Warn("evict worker", "job", j.id, "worker", r.culprit, "error", eerr)
		return err
	}
	s.cfg.Metrics.evicted.Inc()
	s.log.Info("evicted worker", "job", j.id, "worker", r.culprit, "reported_by", r.worker)
	return fmt.Errorf("%w; evicted %s", err, r.culprit)
}
