package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Jobs outlive the coordinator. A job's record, its Job message, is kept in
// etcd under etcdkeys.JobState whenever its state changes and after each
// epoch; its spec, latest checkpoint and model are files in its directory,
// each written whole or not at all, and so are the parameters of its best
// epoch on validation (best.safetensors). A coordinator that starts with the
// same etcd and data directory reads them back (Recover): jobs that had
// ended are listed as they ended, and queued or running ones run again, a
// running one from its latest checkpoint.

// recordState records the job's state in etcd.
func (s *Server) recordState(ctx context.Context, j *job) error {
	b, err := protojson.Marshal(j.snapshot())
	if err != nil {
		return fmt.Errorf("encode job record: %w", err)
	}
	if err := s.write(ctx, clientv3.OpPut(etcdkeys.JobState(j.id), string(b))); err != nil {
		return fmt.Errorf("record job state in etcd: %w", err)
	}
	return nil
}

// errNotLeader is a write refused because this coordinator's leadership
// has lapsed.
var errNotLeader = errors.New("coordinator: no longer the leader")

// write applies ops in etcd, in one transaction, if this coordinator still
// leads: one whose lease lapsed while it was cut off or paused must not
// overwrite the records, or delete the plans, of the one that took over.
func (s *Server) write(ctx context.Context, ops ...clientv3.Op) error {
	resp, err := s.cfg.Etcd.Txn(ctx).If(s.fence...).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		if s.abdicate != nil {
			s.abdicate()
		}
		return errNotLeader
	}
	return nil
}

// putState is recordState for a job already accepted, whose next record
// will carry what this one lost.
func (s *Server) putState(ctx context.Context, j *job) {
	if err := s.recordState(ctx, j); err != nil {
		s.log.Warn("record job state", "job", j.id, "error", err)
	}
}

// Recover loads the jobs recorded in etcd, before the server takes calls:
// ended jobs are listed as they ended; queued and running ones are queued
// again, oldest first, a running one to resume from its checkpoint. An
// unfinished job whose spec cannot be read back is listed as failed; one
// that had ended keeps its state and its model. Records and files are left
// as they are.
func (s *Server) Recover(ctx context.Context) error {
	resp, err := s.cfg.Etcd.Get(ctx, etcdkeys.JobsPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("coordinator: read job records: %w", err)
	}
	var again []*job
	for _, kv := range resp.Kvs {
		id, ok := etcdkeys.ParseJobState(string(kv.Key))
		if !ok {
			continue
		}
		pb := &ringtrainv1.Job{}
		if err := protojson.Unmarshal(kv.Value, pb); err != nil || pb.GetId() != id {
			s.log.Warn("ignoring unreadable job record", "key", string(kv.Key), "error", err)
			continue
		}
		j := s.restore(pb)
		s.mu.Lock()
		s.jobs[id] = j
		s.mu.Unlock()
		if !final(pb.GetState()) {
			again = append(again, j)
		}
	}
	slices.SortFunc(again, func(a, b *job) int {
		return int(a.pb.GetCreatedUnixMs() - b.pb.GetCreatedUnixMs())
	})
	for _, j := range again {
		// Plans of the coordinator before must not start a ring.
		if err := s.write(ctx, clientv3.OpDelete(etcdkeys.PlanPrefix(j.id), clientv3.WithPrefix())); err != nil {
			return fmt.Errorf("coordinator: clear plans of job %s: %w", j.id, err)
		}
		s.mu.Lock()
		s.enqueueLocked(j)
		s.mu.Unlock()
		s.log.Info("job recovered", "job", j.id, "state", j.pb.GetState().String(), "checkpoint_epoch", j.pb.GetCheckpointEpoch())
	}
	return nil
}

// restore rebuilds the job pb records from its directory.
func (s *Server) restore(pb *ringtrainv1.Job) *job {
	id := pb.GetId()
	dir := filepath.Join(s.cfg.DataDir, "jobs", id)
	model := filepath.Join(dir, "model.safetensors")
	fail := func(err error) *job {
		j := &job{id: id, dir: dir, pb: pb, subs: map[chan *ringtrainv1.JobEvent]struct{}{}, reports: make(chan report, 1)}
		if final(pb.GetState()) {
			// An ended job's model and history need no spec to be fetched.
			if fileExists(model) {
				j.model = model
			}
			if h, err := train.ReadHistory(filepath.Join(dir, "history.json")); err == nil {
				j.history = h
			}
		}
		if !final(pb.GetState()) {
			pb.State, pb.Error = ringtrainv1.JobState_JOB_STATE_FAILED, fmt.Sprintf("cannot resume after a coordinator restart: %v", err)
			s.log.Warn("job cannot resume", "job", id, "error", err)
		}
		return j
	}
	yaml, err := os.ReadFile(filepath.Join(dir, "spec.yaml"))
	if err != nil {
		return fail(err)
	}
	spec, err := jobspec.Parse(yaml)
	if err != nil {
		return fail(fmt.Errorf("job spec: %w", err))
	}
	j := newJob(id, spec, yaml, dir, pb.GetMinWorkers(), pb.GetCreatedUnixMs())
	j.pb = pb
	if fileExists(model) {
		j.model = model
	}
	if h, err := train.ReadHistory(filepath.Join(dir, "history.json")); err == nil {
		// A resumed job redoes the epochs after its checkpoint.
		if !final(pb.GetState()) {
			h.Epochs = slices.DeleteFunc(h.Epochs, func(r train.HistoryRow) bool { return r.Epoch > int(pb.GetCheckpointEpoch()) })
		}
		j.history = h
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("job history unreadable; it starts again", "job", id, "error", err)
	}
	if final(pb.GetState()) {
		return j
	}
	if ep := int(pb.GetCheckpointEpoch()); ep > 0 {
		b, err := os.ReadFile(filepath.Join(dir, "checkpoint.safetensors"))
		if err == nil {
			err = verifyCheckpoint(spec, b, ep, pb.GetCheckpointChecksum())
		}
		switch {
		case err == nil:
			j.resume = b
		case pb.GetCheckpointChecksum() != "":
			// The workers hold the state the record names: one provides it.
			s.log.Warn("checkpoint unusable; asking the workers for it", "job", id, "epoch", ep, "error", err)
			j.wanted = &wantedCheckpoint{epochs: ep, sum: pb.GetCheckpointChecksum(), provided: make(chan []byte, 1)}
		default:
			return fail(fmt.Errorf("checkpoint after epoch %d: %w", ep, err))
		}
	}
	pb.State = ringtrainv1.JobState_JOB_STATE_QUEUED
	return j
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// verifyCheckpoint checks that b, an encoded checkpoint in spec's
// precision, is the one after epochs epochs whose state has checksum sum
// (sum "" checks only that it decodes).
func verifyCheckpoint(spec *jobspec.Spec, b []byte, epochs int, sum string) error {
	if spec.Training.Precision == precision.Float64 {
		return verifyIn[float64](b, epochs, sum)
	}
	return verifyIn[float32](b, epochs, sum)
}

func verifyIn[T nn.Float](b []byte, epochs int, sum string) error {
	c, err := checkpoint.DecodeCheckpoint[T](b)
	if err != nil {
		return err
	}
	if c.Epoch != epochs {
		return fmt.Errorf("checkpoint after %d epochs, want %d", c.Epoch, epochs)
	}
	if got := epoch.Checksum(c.Params, c.OptimizerState, c.Steps); sum != "" && got != sum {
		return fmt.Errorf("checkpoint of state %s, want %s", got, sum)
	}
	return nil
}

// fromWorkers asks j's workers, in etcd, for the checkpoint j.wanted names
// and returns it once one has provided it (ProvideCheckpoint verifies it),
// or fails after the stall timeout.
func (s *Server) fromWorkers(ctx context.Context, j *job, w *wantedCheckpoint) ([]byte, error) {
	key := etcdkeys.CheckpointRequest(j.id)
	if err := s.write(ctx, clientv3.OpPut(key, etcdkeys.CheckpointWanted(w.epochs, w.sum))); err != nil {
		return nil, fmt.Errorf("ask the workers for the checkpoint after epoch %d: %w", w.epochs, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.write(dctx, clientv3.OpDelete(key)); err != nil {
			s.log.Warn("withdraw checkpoint request", "job", j.id, "error", err)
		}
	}()
	j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Message{Message: fmt.Sprintf(
		"the checkpoint after epoch %d is not in the data directory; asking the workers for it", w.epochs)}})
	select {
	case b := <-w.provided:
		s.log.Info("checkpoint provided by a worker", "job", j.id, "epoch", w.epochs)
		j.mu.Lock()
		j.wanted = nil
		j.mu.Unlock()
		return b, storeCheckpoint(j, b, w.epochs)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(s.cfg.StallTimeout):
		return nil, fmt.Errorf("no worker provided the checkpoint after epoch %d (state %s) within %v", w.epochs, w.sum, s.cfg.StallTimeout)
	}
}

// start sets rep to the state a run of j starts from and returns the epoch
// it starts at and the state's checksum: the checkpoint in resume, from a
// coordinator before this one, or else the replica's initial state, saved
// as the checkpoint after 0 epochs.
func start[T nn.Float](ctx context.Context, s *Server, j *job, rep *train.Replica[T], resume []byte) (int, string, error) {
	j.mu.Lock()
	wanted := j.wanted
	j.mu.Unlock()
	if resume == nil && wanted != nil {
		b, err := s.fromWorkers(ctx, j, wanted)
		if err != nil {
			return 0, "", err
		}
		resume = b
	}
	if resume == nil {
		sum, err := saveCheckpoint(s, j, rep, 0)
		return 0, sum, err
	}
	c, err := checkpoint.DecodeCheckpoint[T](resume)
	if err != nil {
		return 0, "", fmt.Errorf("resume from checkpoint: %w", err)
	}
	if len(c.Params) != len(rep.Net.Params()) || c.Epoch < 0 || c.Epoch > j.spec.Training.Epochs {
		return 0, "", fmt.Errorf("resume from checkpoint: %d parameters after %d epochs, the job has %d parameters and %d epochs",
			len(c.Params), c.Epoch, len(rep.Net.Params()), j.spec.Training.Epochs)
	}
	copy(rep.Net.Params(), c.Params)
	if err := rep.Opt.Restore(c.OptimizerState, c.Steps); err != nil {
		return 0, "", fmt.Errorf("resume from checkpoint: %w", err)
	}
	j.mu.Lock()
	j.ckpt, j.ckptEp = resume, c.Epoch
	j.mu.Unlock()
	msg := fmt.Sprintf("resuming after a coordinator restart from the checkpoint after epoch %d", c.Epoch)
	s.log.Info("job resumed", "job", j.id, "epoch", c.Epoch)
	j.update(nil, &ringtrainv1.JobEvent{Event: &ringtrainv1.JobEvent_Message{Message: msg}})
	return c.Epoch, epoch.Checksum(c.Params, c.OptimizerState, c.Steps), nil
}

// saveBest keeps rep's parameters, those after epochs epochs, as the best
// of j's epochs so far.
func saveBest[T nn.Float](j *job, rep *train.Replica[T], epochs int) error {
	c := &checkpoint.Checkpoint[T]{Model: checkpoint.Model[T]{Arch: rep.Net.Arch(), Params: rep.Net.Params()}, Epoch: epochs, Seed: j.spec.Training.Seed}
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("encode the best parameters: %w", err)
	}
	return checkpoint.WriteFile(filepath.Join(j.dir, "best.safetensors"), b)
}

// resumeTracker brings track to where j stood after epochs epochs, the
// checkpoint rep holds, by replaying j's history, and gives it the
// parameters of the epoch it would save: the checkpoint's, or those
// saveBest kept. It reports whether early stopping had ended the job.
func resumeTracker[T nn.Float](s *Server, j *job, track *train.Tracker[T], rep *train.Replica[T], epochs int) (stop bool) {
	j.mu.Lock()
	h := &train.History{Task: j.history.Task, Epochs: slices.Clone(j.history.Epochs)}
	j.mu.Unlock()
	saved, stop := track.Replay(h)
	if saved == 0 || saved == epochs {
		track.SetBest(rep.Net.Params(), epochs)
		return stop
	}
	b, err := os.ReadFile(filepath.Join(j.dir, "best.safetensors"))
	if err == nil {
		var c *checkpoint.Checkpoint[T]
		if c, err = checkpoint.DecodeCheckpoint[T](b); err == nil {
			if c.Epoch == saved && len(c.Params) == len(rep.Net.Params()) {
				track.SetBest(c.Params, saved)
				return stop
			}
			err = fmt.Errorf("the file holds epoch %d's", c.Epoch)
		}
	}
	// Only a crash between saving the best parameters and the history, or
	// a lost file, gets here.
	s.log.Warn("the best epoch's parameters are lost; the model starts from the checkpoint's", "job", j.id, "best_epoch", saved, "checkpoint_epoch", epochs, "error", err)
	track.SetBest(rep.Net.Params(), epochs)
	return stop
}
