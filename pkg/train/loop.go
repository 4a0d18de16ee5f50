package train

import (
	"context"
	"time"

	"github.com/ringtrain/ringtrain/pkg/nn"
)

// Loop is the epoch loop of a run, the one the local run (Run) and the
// cluster's coordinator share: it has each epoch trained, then evaluates
// it, lets the tracker pick the model to save and decide early stopping,
// and reports the epoch. How an epoch is trained (steps in this process,
// or a ring of workers), how it is reported and what is saved at the end
// are the caller's.
//
// An epoch's evaluation runs on its own goroutine while the next epoch
// trains, for as long as Train leaves Rep alone: a coordinator's ring
// needs only the checkpoint, and would otherwise wait for the evaluation.
// Early stopping needs its verdict before the next epoch starts, so with
// a patience set each evaluation is waited for.
type Loop[T nn.Float] struct {
	// Rep holds the parameters after each epoch, for Eval and Track.
	Rep   *Replica[T]
	Eval  *Evaluator[T]
	Track *Tracker[T]
	// Epochs is the run's number of epochs; Began when it began, for each
	// report's Elapsed.
	Epochs int
	Began  time.Time
	// Train trains epoch ep (from 0) and returns its report: train loss,
	// samples/s, learning rate, workers and attempts. It must call settle
	// before it changes Rep: the evaluation of the epoch before may still
	// read it.
	Train func(ctx context.Context, ep int, settle func()) (EpochReport, error)
	// Evaluated hears of each epoch, evaluated and tracked (er.Best is
	// set), one at a time, on the evaluation's goroutine. An error it
	// returns ends the run.
	Evaluated func(er *EpochReport) error
}

// evaluation is an epoch's evaluation, under way.
type evaluation struct {
	done chan struct{} // closed when it has ended
	stop bool          // early stopping's verdict; read after done
	err  error         // Evaluated's
}

// Run runs the epochs from first (a resumed run's first) until the last,
// early stopping, or an error of Train or Evaluated, which it returns (nil
// when the run completed or stopped early). Every evaluation it started
// has ended when it returns.
func (l *Loop[T]) Run(ctx context.Context, first int) error {
	var last *evaluation
	settle := func() {
		if last != nil {
			<-last.done
		}
	}
	defer settle()
	for ep := first; ep < l.Epochs; ep++ {
		er, err := l.Train(ctx, ep, settle)
		settle()
		if last != nil && last.err != nil {
			return last.err
		}
		if err != nil {
			return err
		}
		last = l.evaluate(er)
		if l.Track.patience > 0 {
			settle()
			if last.err != nil || last.stop {
				return last.err
			}
		}
	}
	settle()
	if last != nil {
		return last.err
	}
	return nil
}

// evaluate starts evaluating Rep, which holds the parameters after er's
// epoch, then tracks and reports the epoch.
func (l *Loop[T]) evaluate(er EpochReport) *evaluation {
	e := &evaluation{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		l.Eval.Evaluate(&er)
		er.Elapsed = time.Since(l.Began)
		e.stop = l.Track.Observe(&er, l.Rep.Net.Params())
		e.err = l.Evaluated(&er)
	}()
	return e
}
