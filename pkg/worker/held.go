package worker

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// heldCheckpoint is the state a ring agreed on after an epoch, encoded.
type heldCheckpoint struct {
	job    string
	epochs int
	sum    string
	b      []byte
}

// heldDepth is how many of a job's latest checkpoints a worker keeps: the
// coordinator may have recorded the one before the last when it died.
const heldDepth = 2

// hold keeps the checkpoint after epochs epochs of job, of state sum,
// dropping the oldest beyond heldDepth and any of another job.
func (w *Worker) hold(job string, epochs int, sum string, b []byte) {
	w.held.mu.Lock()
	defer w.held.mu.Unlock()
	kept := w.held.ckpts[:0]
	for _, h := range w.held.ckpts {
		if h.job == job && h.epochs < epochs {
			kept = append(kept, h)
		}
	}
	kept = append(kept, heldCheckpoint{job: job, epochs: epochs, sum: sum, b: b})
	if len(kept) > heldDepth {
		kept = kept[len(kept)-heldDepth:]
	}
	w.held.ckpts = kept
}

// holding returns the checkpoint of job after epochs epochs with state sum,
// if this worker keeps it.
func (w *Worker) holding(job string, epochs int, sum string) (heldCheckpoint, bool) {
	w.held.mu.Lock()
	defer w.held.mu.Unlock()
	for _, h := range w.held.ckpts {
		if h.job == job && h.epochs == epochs && h.sum == sum {
			return h, true
		}
	}
	return heldCheckpoint{}, false
}

// provide answers a coordinator's request for a checkpoint (the value of
// job's checkpoint request key), when this worker holds it.
func (w *Worker) provide(ctx context.Context, job, value string) {
	epochs, sum, ok := etcdkeys.ParseCheckpointWanted(value)
	if !ok {
		w.log.Warn("ignoring unreadable checkpoint request", "job", job, "value", value)
		return
	}
	h, ok := w.holding(job, epochs, sum)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The coordinator has just restarted: the connection may still be
	// coming back.
	stream, err := w.coord.ProvideCheckpoint(ctx, grpc.WaitForReady(true))
	if err == nil {
		err = sendCheckpoint(stream, &ringtrainv1.EpochResult{JobId: job, Epoch: int32(epochs - 1), WorkerId: w.cfg.ID, Checksum: sum}, h.b)
	}
	if err != nil {
		w.log.Warn("provide checkpoint", "job", job, "epochs", epochs, "error", err)
		return
	}
	w.log.Info("provided the coordinator with a checkpoint it had lost", "job", job, "epochs", epochs)
}
