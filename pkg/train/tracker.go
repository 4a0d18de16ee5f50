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
	k.res.Epochs = er.Epoch
	if score := Score(er.Val); !k.hasVal || k.res.SavedEpoch == 0 || score > k.bestVal {
		k.bestVal, k.sinceImp, er.Best = score, 0, true
		copy(k.best, params)
		k.res.SavedEpoch, k.res.SavedTest = er.Epoch, er.Test
	} else {
		k.sinceImp++
	}
	if er.Test != nil && er.Test.Confusion != nil && (k.res.BestTestEpoch == 0 || er.Test.Accuracy > k.res.BestTestAccuracy) {
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
