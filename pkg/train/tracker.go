package train

import (
	"fmt"
	"slices"

	"github.com/ringtrain/ringtrain/pkg/nn"
)

// Tracker follows a run epoch by epoch: it keeps the parameters worth saving
// (the best on validation, or the latest without validation), the best test
// accuracy for the record, and decides early stopping. The local run and the
// cluster coordinator share it so both select models the same way.
type Tracker[T nn.Float] struct {
	res      Result
	best     []T
	bestVal  float64
	sinceImp int
	hasVal   bool
	patience int
}

// NewTracker starts tracking a run whose parameters look like params.
func NewTracker[T nn.Float](params []T, hasVal bool, patience int) *Tracker[T] {
	return &Tracker[T]{best: slices.Clone(params), hasVal: hasVal, patience: patience}
}

// Observe records an evaluated epoch with its parameters, marks er.Best, and
// reports whether early stopping ends the run here.
func (k *Tracker[T]) Observe(er *EpochReport, params []T) (stop bool) {
	classifies := er.Test != nil && er.Test.Confusion != nil
	return k.observe(er, Score(er.Val), classifies, params)
}

// Replay brings a new tracker to where the run of h stood after its last
// row, as if it had observed h's epochs, but without their parameters: it
// returns the epoch it would save (0 if none) and whether early stopping
// had ended the run. The caller then gives that epoch's parameters to
// SetBest. A coordinator that resumes a job replays the job's history.
func (k *Tracker[T]) Replay(h *History) (saved int, stop bool) {
	classifies := h.Task == TaskClassification
	for i := range h.Epochs {
		r := &h.Epochs[i]
		er := EpochReport{Epoch: r.Epoch, TrainLoss: r.TrainLoss, Val: r.Val.metrics(), Test: r.Test.metrics(),
			SamplesPerSec: r.SamplesPerSec, LearningRate: r.LearningRate, Workers: r.Workers, Attempts: r.Attempts}
		s := 0.0
		if r.Val != nil {
			s = validationScore(r.Val.Loss, r.Val.Accuracy, classifies)
		}
		stop = k.observe(&er, s, classifies, nil)
	}
	return k.res.SavedEpoch, stop
}

// SetBest makes params the parameters to save, those of epoch (which
// becomes SavedEpoch).
func (k *Tracker[T]) SetBest(params []T, epoch int) {
	copy(k.best, params)
	if epoch != k.res.SavedEpoch {
		k.res.SavedEpoch, k.res.SavedTest = epoch, nil
	}
}

// observe records er, whose validation score is score; classifies says
// whether its test accuracy counts. params, if not nil, are er's.
func (k *Tracker[T]) observe(er *EpochReport, score float64, classifies bool, params []T) (stop bool) {
	k.res.Epochs = er.Epoch
	if !k.hasVal || k.res.SavedEpoch == 0 || score > k.bestVal {
		k.bestVal, k.sinceImp, er.Best = score, 0, true
		if params != nil {
			copy(k.best, params)
		}
		k.res.SavedEpoch, k.res.SavedTest = er.Epoch, er.Test
	} else {
		k.sinceImp++
	}
	if classifies && er.Test != nil && (k.res.BestTestEpoch == 0 || er.Test.Accuracy > k.res.BestTestAccuracy) {
		k.res.BestTestAccuracy, k.res.BestTestEpoch = er.Test.Accuracy, er.Epoch
	}
	k.res.History = append(k.res.History, *er)
	if k.hasVal && k.patience > 0 && k.sinceImp >= k.patience {
		k.res.Stopped = fmt.Sprintf("early stopping: no better validation score for %d epochs", k.patience)
		return true
	}
	return false
}

// Params returns the parameters to save.
func (k *Tracker[T]) Params() []T { return k.best }

// Result returns the run's summary, which the tracker fills as it goes.
func (k *Tracker[T]) Result() *Result { return &k.res }
