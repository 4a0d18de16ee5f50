package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ringtrain/ringtrain/internal/barrier"
	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/optim"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// jobState is what a worker holds of a job between epochs.
type jobState struct {
	id      string
	spec    *jobspec.Spec
	ds      *data.Dataset
	rep     replica
	batches *shard.Batches
	sched   optim.Schedule
	// sum is the checksum of rep's state, or "" when an epoch was cut
	// short and the state is no longer a checkpoint's.
	sum string
}

// load returns the state of job id, fetching spec and data from the
// coordinator the first time.
func (w *Worker) load(ctx context.Context, id string) (*jobState, error) {
	if w.job != nil && w.job.id == id {
		return w.job, nil
	}
	w.job = nil
	sresp, err := w.coord.GetJobSpec(ctx, &ringtrainv1.GetJobSpecRequest{JobId: id})
	if err != nil {
		return nil, fmt.Errorf("fetch job spec: %w", err)
	}
	spec, err := jobspec.Parse(sresp.GetSpec())
	if err != nil {
		return nil, fmt.Errorf("job spec: %w", err)
	}
	ds, err := w.dataset(ctx, id, sresp.GetDatasetSha256())
	if err != nil {
		return nil, err
	}
	rep, err := newReplica(spec, ds)
	if err != nil {
		return nil, err
	}
	js := &jobState{id: id, spec: spec, ds: ds, rep: rep, batches: shard.NewBatches(spec.Training.Seed, 0, ds.Len(), spec.Training.BatchSize)}
	js.sched = spec.Training.LearningRates(js.batches.Steps())
	w.job = js
	w.log.Info("loaded job", "job", id, "samples", ds.Len(), "params", rep.numParams(), "precision", spec.Training.Precision)
	return js, nil
}

// ErrDatasetDigest is returned when a training set arrives with another
// digest than the coordinator announced for it.
var ErrDatasetDigest = errors.New("worker: dataset does not match its digest")

// dataset returns job id's training set: the one this worker holds when
// sum, the coordinator's digest of it, matches; else fetched, checked
// against sum and kept for the next job.
func (w *Worker) dataset(ctx context.Context, id, sum string) (*data.Dataset, error) {
	if sum != "" && sum == w.data.sum {
		w.log.Debug("dataset already held", "job", id, "sha256", sum)
		return w.data.ds, nil
	}
	w.data.sum, w.data.ds = "", nil
	start := time.Now()
	stream, err := w.coord.GetDataset(ctx, &ringtrainv1.GetDatasetRequest{JobId: id})
	if err != nil {
		return nil, fmt.Errorf("fetch dataset: %w", err)
	}
	raw, err := receive(stream)
	if err != nil {
		return nil, fmt.Errorf("fetch dataset: %w", err)
	}
	if sum != "" {
		if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != sum {
			return nil, fmt.Errorf("%w: %d bytes with SHA-256 %x, announced %s", ErrDatasetDigest, len(raw), got, sum)
		}
	}
	ds, err := data.Decode(raw)
	if err != nil {
		return nil, err
	}
	w.data.sum, w.data.ds = sum, ds
	w.metrics.dataLoad.Observe(time.Since(start).Seconds())
	return ds, nil
}

// maxStream bounds the size a stream's first chunk may announce, so that a
// wrong total cannot make a worker allocate more than any dataset needs.
const maxStream = 64 << 30

func receive(stream interface {
	Recv() (*ringtrainv1.DataChunk, error)
}) ([]byte, error) {
	var b []byte
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if b == nil && c.GetTotal() > int64(len(c.GetData())) && c.GetTotal() <= maxStream {
			// One allocation instead of a doubling per megabyte: the
			// training set is hundreds of them.
			b = make([]byte, 0, c.GetTotal())
		}
		b = append(b, c.GetData()...)
	}
}

// restore loads the checkpoint plan p starts from, unless the replica
// already holds it.
func (w *Worker) restore(ctx context.Context, js *jobState, p *epoch.Plan) error {
	if js.sum == p.Checksum {
		return nil
	}
	stream, err := w.coord.GetCheckpoint(ctx, &ringtrainv1.GetCheckpointRequest{JobId: p.Job, Epoch: int32(p.Epoch)})
	if err != nil {
		return fmt.Errorf("fetch checkpoint: %w", err)
	}
	raw, err := receive(stream)
	if err != nil {
		return fmt.Errorf("fetch checkpoint: %w", err)
	}
	// Until the state is whole again the replica holds no checksum: a
	// restore that fails halfway leaves parameters of one state and an
	// optimiser of another, which no plan may start from.
	js.sum = ""
	if err := js.rep.restore(raw); err != nil {
		return err
	}
	js.sum = js.rep.checksum()
	if js.sum != p.Checksum {
		return fmt.Errorf("checkpoint checksum %s, plan says %s", js.sum, p.Checksum)
	}
	return nil
}

// runPlan runs one plan and reports a failure unless it was cancelled.
func (w *Worker) runPlan(ctx context.Context, reg *membership.Registration, p *epoch.Plan) {
	log := w.log.With("job", p.Job, "epoch", p.Epoch+1, "generation", p.Generation)
	log.Debug("running plan", "rank", p.Rank(w.cfg.ID), "workers", len(p.Members))
	ring, err := w.runEpoch(ctx, reg, p)
	if err != nil && ctx.Err() == nil {
		w.metrics.failures.Inc()
		log.Warn("epoch failed", "error", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, rerr := w.coord.ReportFailure(rctx, &ringtrainv1.ReportFailureRequest{
			JobId: p.Job, Epoch: int32(p.Epoch), Generation: p.Generation, WorkerId: w.cfg.ID, Error: err.Error(), Culprit: culprit(p, err), Cause: cause(err)})
		cancel()
		if rerr != nil {
			log.Warn("report failure to coordinator", "error", rerr)
		}
	}
	// Leave the ring only now: leaving makes the other members' calls fail,
	// and the coordinator must hear this member's cause (a divergence, say)
	// before their echoes of it.
	if ring != nil {
		ring.Close()
	}
	w.metrics.recordRing(0, p.Generation, p.Epoch+1)
}

// cause returns the kind of failure err is, for the coordinator.
func cause(err error) ringtrainv1.FailureCause {
	if errors.Is(err, train.ErrDiverged) {
		return ringtrainv1.FailureCause_FAILURE_CAUSE_DIVERGED
	}
	return ringtrainv1.FailureCause_FAILURE_CAUSE_UNSPECIFIED
}

// culprit returns the ID of the member of p that err names as its cause,
// or "" when it names none: the peer a ring call blames, a member lost
// before arriving at a barrier, or one a barrier waited for in vain.
func culprit(p *epoch.Plan, err error) string {
	var (
		pe      *allreduce.PeerError
		lost    *barrier.LostError
		stalled *barrier.StalledError
	)
	switch {
	case errors.As(err, &pe) && pe.Rank >= 0 && pe.Rank < len(p.Members):
		return p.Members[pe.Rank].ID
	case errors.As(err, &lost) && len(lost.Members) > 0:
		return lost.Members[0]
	case errors.As(err, &stalled) && errors.Is(stalled.Err, context.DeadlineExceeded) && len(stalled.Missing) == 1:
		// Only a lone member awaited is named: where several are, they
		// may be waiting on one of them (a ring forms round a member
		// slow to start on both its sides), and the first by ID is no
		// likelier at fault than the others.
		return stalled.Missing[0]
	}
	return ""
}

// runEpoch runs plan p and returns the ring it formed, if it got that far,
// for the caller to close.
func (w *Worker) runEpoch(ctx context.Context, reg *membership.Registration, p *epoch.Plan) (*allreduce.Ring, error) {
	js, err := w.load(ctx, p.Job)
	if err != nil {
		return nil, err
	}
	if err := w.restore(ctx, js, p); err != nil {
		return nil, err
	}
	rank := p.Rank(w.cfg.ID)
	var opts []allreduce.Option
	if w.cfg.RingTimeout > 0 {
		opts = append(opts, allreduce.WithTimeout(w.cfg.RingTimeout))
	}
	ring, err := allreduce.NewRing(ctx, w.cfg.Transport, allreduce.Membership{
		Job: p.Job, Generation: p.Generation, Rank: rank, Addrs: p.Addrs(), IDs: p.IDs()}, opts...)
	if err != nil {
		return nil, fmt.Errorf("form ring: %w", err)
	}
	w.metrics.recordRing(len(p.Members), p.Generation, p.Epoch+1)
	bar := barrier.New(w.cfg.Etcd, etcdkeys.Barrier(p.Job, p.Epoch, p.Generation), p.IDs())
	sums, err := w.enterBarrier(ctx, ring, bar, reg, js.sum)
	if err != nil {
		return ring, fmt.Errorf("enter barrier: %w", err)
	}
	if err := agree(sums); err != nil {
		return ring, fmt.Errorf("at epoch start: %w", err)
	}

	js.sum = ""
	start := time.Now()
	lossSum, samples, err := w.steps(ctx, js, ring, p, rank, start)
	if err != nil {
		return ring, err
	}
	seconds := time.Since(start).Seconds()
	sum := js.rep.checksum()
	if sums, err = w.atBarrier(ctx, ring, w.ringTimeout(), func(ctx context.Context) (map[string]string, error) { return bar.Leave(ctx, reg, sum) }); err != nil {
		return ring, fmt.Errorf("leave barrier: %w", err)
	}
	if err := agree(sums); err != nil {
		return ring, fmt.Errorf("at epoch end: %w", err)
	}
	js.sum = sum
	// Every member keeps the state the ring agreed on: a coordinator that
	// restarts without its checkpoint file takes it from one of them.
	b, err := js.rep.encode(p.Epoch+1, js.spec.Training.Seed)
	if err != nil {
		return ring, err
	}
	w.hold(p.Job, p.Epoch+1, sum, b)
	if rank != 0 {
		return ring, nil
	}
	res := &ringtrainv1.EpochResult{JobId: p.Job, Epoch: int32(p.Epoch), Generation: p.Generation, WorkerId: w.cfg.ID,
		TrainLoss: lossSum / float64(samples), Samples: int64(samples), Checksum: sum, Seconds: seconds}
	return ring, w.upload(ctx, res, b)
}

// enterTimeout bounds the further wait at an epoch's first barrier when
// several members are still awaited after the ring timeout: a member forms
// its ring once both its neighbours have started to, not all members, so
// the others may wait there for one still loading the job, as long as a
// predecessor waits for its successor to form (tcpnet's form timeout).
const enterTimeout = 30 * time.Second

// enterBarrier arrives at bar's enter phase with sum and waits for the
// other members: a ring timeout, and longer where several are awaited
// then, where one hung member would be alone: most likely one still
// loading the job, and its neighbours waiting to form the ring with it.
func (w *Worker) enterBarrier(ctx context.Context, ring *allreduce.Ring, bar *barrier.Barrier, self barrier.Participant, sum string) (map[string]string, error) {
	sums, err := w.atBarrier(ctx, ring, w.ringTimeout(), func(ctx context.Context) (map[string]string, error) { return bar.Enter(ctx, self, sum) })
	var stalled *barrier.StalledError
	if errors.As(err, &stalled) && len(stalled.Missing) > 1 && ctx.Err() == nil {
		sums, err = w.atBarrier(ctx, ring, enterTimeout, func(ctx context.Context) (map[string]string, error) { return bar.Wait(ctx, etcdkeys.PhaseEnter) })
	}
	return sums, err
}

// ringTimeout is the ring's timeout, the configured one or the default.
func (w *Worker) ringTimeout() time.Duration {
	if w.cfg.RingTimeout > 0 {
		return w.cfg.RingTimeout
	}
	return allreduce.DefaultTimeout
}

// atBarrier arrives at a barrier with arrive and waits there no longer
// than timeout, the ring timeout but where several members are awaited at
// the enter barrier (see enterTimeout). A member still awaited after that
// is stalled, and the error names it
// (*barrier.StalledError). A member that dies meanwhile ends the wait at
// once, with the ring's error naming it, rather than when its lease
// lapses. A neighbour that left the ring after passing the barrier is no
// failure: the wait's verdict is the same for every member.
func (w *Worker) atBarrier(ctx context.Context, ring *allreduce.Ring, timeout time.Duration, arrive func(context.Context) (map[string]string, error)) (map[string]string, error) {
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		select {
		case <-ring.Done():
			if !errors.Is(ring.Err(), allreduce.ErrLeft) {
				cancel()
			}
		case <-bctx.Done():
		}
	}()
	sums, err := arrive(bctx)
	if rerr := ring.Err(); err != nil && ctx.Err() == nil && rerr != nil && !errors.Is(rerr, allreduce.ErrLeft) {
		return nil, rerr
	}
	return sums, err
}

// agree checks that every member reported the same checksum.
func agree(sums map[string]string) error {
	var first, who string
	for id, s := range sums {
		if who == "" {
			first, who = s, id
			continue
		}
		if s != first {
			return fmt.Errorf("replicas diverged: %s has state %s, %s has %s", who, first, id, s)
		}
	}
	return nil
}

// steps runs every step of the epoch and returns the loss summed over
// samples and the number of samples.
func (w *Worker) steps(ctx context.Context, js *jobState, ring *allreduce.Ring, p *epoch.Plan, rank int, start time.Time) (float64, int, error) {
	js.batches.Reset(js.spec.Training.Seed, p.Epoch)
	members := len(p.Members)
	red := js.rep.newReducer(ctx, ring, w.cfg.BucketBytes)
	defer red.close()
	var (
		st         stepTimes
		rows       int // this member's share of the step's batch
		samples    int
		lastReport = start
	)
	bytes := js.rep.bufferBytes()
	return js.rep.steps(ctx, js.batches, js.sched, p.Epoch, func(k int, batch []int) (float64, error) {
		part := shard.Split(batch, members, rank)
		rows = len(part)
		loss, err := red.reduce(js.ds, part, p.Epoch, &st)
		if err != nil {
			return 0, fmt.Errorf("all-reduce at step %d: %w", k+1, err)
		}
		return loss, nil
	}, func(s train.StepDone) {
		w.metrics.recordStep(&st, s.Update, rows, bytes, members, s.Loss)
		samples += s.Samples
		if rank == 0 && time.Since(lastReport) > time.Second {
			lastReport = time.Now()
			w.progress(ctx, js, p, s.Step+1, s.Loss, samples, start)
		}
	})
}

// progress tells the coordinator how the epoch goes. It is best effort: a
// lost report only delays a watcher's bar.
func (w *Worker) progress(ctx context.Context, js *jobState, p *epoch.Plan, step int, loss float64, samples int, start time.Time) {
	rate := float64(samples) / time.Since(start).Seconds()
	t := js.spec.Training
	left := float64((t.Epochs-p.Epoch)*js.ds.Len()-samples) / rate
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := w.coord.ReportProgress(rctx, &ringtrainv1.ReportProgressRequest{JobId: p.Job, Generation: p.Generation,
		Progress: &ringtrainv1.StepProgress{Epoch: int32(p.Epoch + 1), Epochs: int32(t.Epochs), Step: int32(step), Steps: int32(js.batches.Steps()),
			Loss: loss, SamplesPerSec: rate, EtaSeconds: left, Workers: int32(len(p.Members))}})
	if err != nil && ctx.Err() == nil {
		w.log.Debug("report progress", "error", err)
	}
}

// upload sends the epoch's result and checkpoint b to the coordinator.
func (w *Worker) upload(ctx context.Context, res *ringtrainv1.EpochResult, b []byte) error {
	stream, err := w.coord.CompleteEpoch(ctx)
	if err != nil {
		return fmt.Errorf("upload checkpoint: %w", err)
	}
	if err := sendCheckpoint(stream, res, b); err != nil {
		return fmt.Errorf("upload checkpoint: %w", err)
	}
	return nil
}

// checkpointSender is what CompleteEpoch's and ProvideCheckpoint's client
// streams have in common.
type checkpointSender interface {
	Send(*ringtrainv1.CompleteEpochRequest) error
	CloseAndRecv() (*ringtrainv1.CompleteEpochResponse, error)
}

// sendCheckpoint sends res, then b in chunks, and waits for the answer.
func sendCheckpoint(stream checkpointSender, res *ringtrainv1.EpochResult, b []byte) error {
	const chunk = 1 << 20
	first := true
	for first || len(b) > 0 {
		n := min(len(b), chunk)
		req := &ringtrainv1.CompleteEpochRequest{Checkpoint: b[:n]}
		if first {
			req.Result, first = res, false
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		b = b[n:]
	}
	_, err := stream.CloseAndRecv()
	return err
}
