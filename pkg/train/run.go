package train

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

// ErrDiverged is wrapped by the error of a run whose loss became NaN or
// infinite; no model is written from such a run.
var ErrDiverged = errors.New("train: loss diverged")

// StepProgress is reported after every training step.
type StepProgress struct {
	Epoch, Epochs int // Epoch counts from 1
	Step, Steps   int // Step counts from 1 within the epoch
	Loss          float64
	SamplesPerSec float64
	ETA           time.Duration
}

// EpochReport is reported after every epoch's evaluation.
type EpochReport struct {
	Epoch, Epochs int
	TrainLoss     float64
	Val, Test     *nn.Metrics // nil when the set is absent
	Elapsed       time.Duration
	SamplesPerSec float64
	Best          bool // this epoch is the best so far on validation
	// LearningRate is the rate of the epoch's last step; Workers the ring's
	// size (0 in one process) and Attempts how often the epoch ran (1
	// unless it was redone).
	LearningRate      float64
	Workers, Attempts int
}

// Observer receives progress. Calls come one at a time, in order, and
// should return quickly.
type Observer interface {
	Step(StepProgress)
	Epoch(EpochReport)
}

// Result summarises a finished run.
type Result struct {
	Epochs int
	// SavedEpoch is the epoch whose parameters were saved: the best on
	// validation, or the last when there is no validation set.
	SavedEpoch int
	SavedTest  *nn.Metrics
	// BestTestAccuracy is the highest test accuracy of any epoch, reported
	// for comparison with published figures; it never selects the model.
	BestTestAccuracy float64
	BestTestEpoch    int
	Wall             time.Duration
	ModelPath        string
	Stopped          string // why the run ended, for people
	// Interrupted says the run's context ended it.
	Interrupted bool
	History     []EpochReport
}

// Run trains the spec's model on sets, reporting to obs, and saves the model
// under the spec's output directory. Cancelling ctx ends the run after the
// current step; the model so far is saved and Result.Stopped says so.
func Run[T nn.Float](ctx context.Context, spec *jobspec.Spec, sets *Datasets, obs Observer) (*Result, error) {
	t := spec.Training
	shape := ShapeOf(sets.Train)
	rep, err := NewReplica[T](spec, shape, sets.Train.Len(), t.BatchSize)
	if err != nil {
		return nil, err
	}
	batches := shard.NewBatches(t.Seed, 0, sets.Train.Len(), t.BatchSize)
	sched := spec.Training.LearningRates(batches.Steps())
	eval := NewEvaluator(rep.Net, sets)

	track := NewTracker(rep.Net.Params(), sets.Val != nil, t.EarlyStopping.Patience)
	res := track.Result()
	res.ModelPath = filepath.Join(spec.Output.Dir, "model.safetensors")
	hist := &History{Name: spec.Name, Task: TaskOf(rep.Net.Arch())}
	totalSteps := t.Epochs * batches.Steps()
	start := time.Now()
	var step int
	loop := &Loop[T]{Rep: rep, Eval: eval, Track: track, Epochs: t.Epochs, Began: start,
		Train: func(ctx context.Context, epoch int, settle func()) (EpochReport, error) {
			settle() // the steps change the replica an evaluation reads
			batches.Reset(t.Seed, epoch)
			epochStart := time.Now()
			lossSum, seen, err := rep.Steps(ctx, batches, sched, epoch, func(_ int, batch []int) (float64, error) {
				return rep.Gradients(sets.Train, batch, epoch), nil
			}, func(s StepDone) {
				step++
				rate := float64(step*batches.Size()) / time.Since(start).Seconds()
				left := time.Duration(float64(totalSteps-step) * float64(batches.Size()) / rate * float64(time.Second))
				obs.Step(StepProgress{Epoch: epoch + 1, Epochs: t.Epochs, Step: s.Step + 1, Steps: batches.Steps(), Loss: s.Loss, SamplesPerSec: rate, ETA: left})
			})
			return EpochReport{Epoch: epoch + 1, Epochs: t.Epochs, TrainLoss: lossSum / float64(max(seen, 1)),
				SamplesPerSec: float64(seen) / time.Since(epochStart).Seconds(), LearningRate: sched.At(rep.Opt.Steps()-1, epoch), Attempts: 1}, err
		},
		Evaluated: func(er *EpochReport) error {
			hist.Epochs = append(hist.Epochs, Row(er))
			if err := hist.Save(spec.Output.Dir); err != nil {
				return err
			}
			obs.Epoch(*er)
			return nil
		},
	}
	if err := loop.Run(ctx, 0); err != nil {
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			return nil, err
		}
		res.Stopped, res.Interrupted = "interrupted", true
	}
	if res.Stopped == "" {
		res.Stopped = "completed"
	}
	res.Wall = time.Since(start)
	best := track.Params()
	if res.Epochs == 0 {
		// Interrupted inside the first epoch: keep what was learned so far.
		best = rep.Net.Params()
	}
	m := &checkpoint.Model[T]{Arch: rep.Net.Arch(), Params: best, Labels: sets.Labels, Scaler: sets.Scaler, TargetScaler: sets.TargetScaler}
	if err := checkpoint.SaveModel(res.ModelPath, m); err != nil {
		return res, err
	}
	return res, nil
}
