package worker

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
)

// replica is a job's model in the precision its spec names, with the
// all-reduce buffer its gradient goes through, so that the epoch loop is
// written once for float32 and float64 jobs.
type replica interface {
	// newReducer starts an epoch's steps of gradient and all-reduce on ring,
	// in buckets of at least bucketBytes (see planBuckets), until its
	// close. Its goroutine, if any, uses ctx for its ring calls.
	newReducer(ctx context.Context, ring *allreduce.Ring, bucketBytes int) reducer
	// steps runs an epoch's steps (see train.Replica.Steps).
	steps(ctx context.Context, batches *shard.Batches, sched optim.Schedule, epoch int,
		gradient func(k int, batch []int) (float64, error), done func(train.StepDone)) (float64, int, error)
	// checksum digests parameters, optimiser state and step count.
	checksum() string
	// restore loads an encoded checkpoint; encode makes one.
	restore(raw []byte) error
	encode(epochs int, seed uint64) ([]byte, error)
	numParams() int
	// bufferBytes is the size of what a step all-reduces.
	bufferBytes() int
}

func newReplica(spec *jobspec.Spec, ds *data.Dataset) (replica, error) {
	if spec.Training.Precision == precision.Float64 {
		return newTypedReplica[float64](spec, ds)
	}
	return newTypedReplica[float32](spec, ds)
}

type typedReplica[T nn.Float] struct {
	rep *train.Replica[T]
}

func newTypedReplica[T nn.Float](spec *jobspec.Spec, ds *data.Dataset) (*typedReplica[T], error) {
	rep, err := train.NewReplica[T](spec, train.ShapeOf(ds), ds.Len(), spec.Training.BatchSize)
	if err != nil {
		return nil, err
	}
	return &typedReplica[T]{rep: rep}, nil
}

func (r *typedReplica[T]) numParams() int { return r.rep.Net.NumParams() }

func (r *typedReplica[T]) bufferBytes() int { return len(r.rep.Reduced) * int(unsafe.Sizeof(T(0))) }

func (r *typedReplica[T]) newReducer(ctx context.Context, ring *allreduce.Ring, bucketBytes int) reducer {
	return r.reducer(func(b []T, weight float64) error { return allreduce.AllReduceWeighted(ctx, ring, b, weight) }, bucketBytes)
}

// reducer is newReducer with call for the ring's all-reduce.
func (r *typedReplica[T]) reducer(call func(b []T, weight float64) error, bucketBytes int) reducer {
	off := r.rep.Net.Arch().ParamOffsets()
	plan := planBuckets(off, int(unsafe.Sizeof(T(0))), bucketBytes)
	return newBucketReducer(call, r.rep, r.rep.Reduced, len(off)-1, plan)
}

func (r *typedReplica[T]) steps(ctx context.Context, batches *shard.Batches, sched optim.Schedule, epoch int,
	gradient func(k int, batch []int) (float64, error), done func(train.StepDone)) (float64, int, error) {
	return r.rep.Steps(ctx, batches, sched, epoch, gradient, done)
}

func (r *typedReplica[T]) checksum() string {
	return epoch.Checksum(r.rep.Net.Params(), r.rep.Opt.State(), r.rep.Opt.Steps())
}

func (r *typedReplica[T]) restore(raw []byte) error {
	c, err := checkpoint.DecodeCheckpoint[T](raw)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if len(c.Params) != r.rep.Net.NumParams() {
		return fmt.Errorf("checkpoint has %d parameters, the job's network %d", len(c.Params), r.rep.Net.NumParams())
	}
	copy(r.rep.Net.Params(), c.Params)
	if err := r.rep.Opt.Restore(c.OptimizerState, c.Steps); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (r *typedReplica[T]) encode(epochs int, seed uint64) ([]byte, error) {
	c := &checkpoint.Checkpoint[T]{
		Model:          checkpoint.Model[T]{Arch: r.rep.Net.Arch(), Params: r.rep.Net.Params()},
		OptimizerState: r.rep.Opt.State(), Steps: r.rep.Opt.Steps(), Epoch: epochs, Seed: seed,
	}
	return c.Encode()
}
