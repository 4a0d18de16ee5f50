package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/augment"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
)

// Replica owns one copy of the model and the buffers of its training step.
// It is not safe for concurrent use.
type Replica[T nn.Float] struct {
	Net *nn.Network[T]
	Opt *optim.Optimizer[T]
	// Grads is the gradient a step computes and applies: the first
	// NumParams values of Reduced, whose last value is the batch's loss, so
	// that a worker averages both in one all-reduce.
	Grads, Reduced []T

	ws   *nn.Workspace[T]
	aug  *augment.Augmenter
	reg  nn.Regularization
	seed uint64

	xs, ys []float32 // the gathered batch as the dataset stores it
	x, y   []T       // the batch in T; aliases xs, ys when T is float32
	index  []int
}

// NewReplica builds the replica the spec describes for a training set of
// trainLen samples shaped like shape, with parameters initialised from the
// job's seed. maxRows bounds the rows of any batch it will compute; no
// batch has more rows than the training set, whatever the spec's
// batch_size, so neither do its buffers.
func NewReplica[T nn.Float](spec *jobspec.Spec, shape Shape, trainLen, maxRows int) (*Replica[T], error) {
	maxRows = min(maxRows, trainLen)
	arch := spec.Model.Architecture(shape.Features)
	net, err := nn.New[T](arch)
	if err != nil {
		return nil, fmt.Errorf("build network: %w", err)
	}
	net.Initialize(spec.Training.Seed)
	opt, err := optim.New[T](spec.Training.Optimizer.Config(), net.NumParams())
	if err != nil {
		return nil, fmt.Errorf("build optimizer: %w", err)
	}
	reduced := make([]T, net.NumParams()+1)
	r := &Replica[T]{
		Net:     net,
		Opt:     opt,
		Grads:   reduced[:net.NumParams()],
		Reduced: reduced,
		ws:      nn.NewWorkspace[T](arch, maxRows),
		reg:     nn.Regularization{L1: spec.Training.L1, L2: spec.Training.L2, N: trainLen},
		seed:    spec.Training.Seed,
		xs:      make([]float32, maxRows*shape.Features),
		ys:      make([]float32, maxRows*shape.Outputs),
		index:   make([]int, maxRows),
	}
	if a := spec.Training.Augment; a.Shift != 0 || a.Flip || a.Rotate != 0 {
		r.aug = augment.New(augment.Config{Shift: a.Shift, Flip: a.Flip, RotateDegrees: a.Rotate}, shape.Image[0], shape.Image[1])
	}
	r.x, r.y = asT[T](r.xs), asT[T](r.ys)
	return r, nil
}

// asT returns v itself when T is float32, else a new []T of v's length.
func asT[T nn.Float](v []float32) []T {
	if t, ok := any(v).([]T); ok {
		return t
	}
	return make([]T, len(v))
}

// convert copies src into dst unless they are the same float32 memory.
func convert[T nn.Float](dst []T, src []float32) {
	if _, same := any(dst).([]float32); same {
		return
	}
	for i, v := range src {
		dst[i] = T(v)
	}
}

// Gradients computes into r.Grads the mean gradient over the samples idx of
// ds at epoch, with dropout and augmentation drawn from (seed, epoch,
// sample), and returns the batch's mean loss. An empty idx zeroes the
// gradient and returns 0: a ring member with no samples still takes part in
// the all-reduce, with weight 0.
func (r *Replica[T]) Gradients(ds *data.Dataset, idx []int, epoch int) float64 {
	if len(idx) == 0 {
		clear(r.Grads)
		return 0
	}
	return r.Net.Gradients(r.ws, r.batch(ds, idx, epoch), r.Grads, r.reg, &nn.Randomness{Seed: r.seed, Epoch: epoch})
}

// GradientsByLayer is Gradients, telling sink as each layer's part of
// r.Grads becomes final (see nn.LayerSink), so that a worker can all-reduce
// the last layers while backward computes the first. It gives the same bits
// as Gradients, an empty idx included: zero gradient and loss 0, every
// layer still reported.
func (r *Replica[T]) GradientsByLayer(ds *data.Dataset, idx []int, epoch int, sink nn.LayerSink) float64 {
	if len(idx) == 0 {
		return r.Net.GradientsByLayer(r.ws, nn.Batch[T]{}, r.Grads, nn.Regularization{}, nil, sink)
	}
	return r.Net.GradientsByLayer(r.ws, r.batch(ds, idx, epoch), r.Grads, r.reg, &nn.Randomness{Seed: r.seed, Epoch: epoch}, sink)
}

// batch gathers and augments the samples idx of ds into r's buffers.
func (r *Replica[T]) batch(ds *data.Dataset, idx []int, epoch int) nn.Batch[T] {
	rows := len(idx)
	f, o := ds.Features, ds.TargetWidth()
	xs, ys := r.xs[:rows*f], r.ys[:rows*o]
	ds.Gather(idx, xs, ys)
	if r.aug != nil {
		for i, s := range idx {
			row := xs[i*f : (i+1)*f]
			r.aug.Apply(row, row, r.seed, epoch, s)
		}
	}
	x, y := r.x[:rows*f], r.y[:rows*o]
	convert(x, xs)
	convert(y, ys)
	copy(r.index, idx)
	return nn.Batch[T]{X: x, Y: y, Index: r.index[:rows]}
}

// StepDone is what Steps reports after each step.
type StepDone struct {
	Step    int // within the epoch, from 0
	Samples int // the batch's
	Loss    float64
	// Update is how long the optimiser's update of the parameters took.
	Update time.Duration
}

// Steps runs the steps of one epoch (from 0) of batches, which the caller
// has Reset for that epoch: the one step loop of a local run and of a
// worker. For step k, gradient puts the gradient of batch into r.Grads
// (averaged over the ring, in a cluster) and returns the batch's mean
// loss; then the optimiser updates the parameters at sched's rate for its
// step count. done, if not nil, hears of each step. Steps returns the
// loss summed over the epoch's samples and their number. It stops at
// gradient's first error, at a loss that is NaN or infinite (an error
// wrapping ErrDiverged), or with ctx's error once ctx has ended, checked
// before each step.
func (r *Replica[T]) Steps(ctx context.Context, batches *shard.Batches, sched optim.Schedule, epoch int,
	gradient func(k int, batch []int) (float64, error), done func(StepDone)) (lossSum float64, samples int, err error) {
	for k := range batches.Steps() {
		if err := ctx.Err(); err != nil {
			return lossSum, samples, err
		}
		batch := batches.Batch(k)
		loss, err := gradient(k, batch)
		if err != nil {
			return lossSum, samples, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return lossSum, samples, fmt.Errorf("%w: loss is %v at epoch %d step %d (lower the learning rate?)", ErrDiverged, loss, epoch+1, k+1)
		}
		start := time.Now()
		r.Opt.Step(r.Net.Params(), r.Grads, sched.At(r.Opt.Steps(), epoch))
		lossSum += loss * float64(len(batch))
		samples += len(batch)
		if done != nil {
			done(StepDone{Step: k, Samples: len(batch), Loss: loss, Update: time.Since(start)})
		}
	}
	return lossSum, samples, nil
}
