package train

import (
	"fmt"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/nn"
)

// TestTrackerReplay checks that a tracker that replays a run's history
// stands where the tracker that observed the run stood: the same epoch to
// save, best test accuracy and early-stopping verdict, and, once given the
// saved epoch's parameters, the same parameters.
func TestTrackerReplay(t *testing.T) {
	classes := func(acc ...float64) []*nn.Metrics {
		var m []*nn.Metrics
		for _, a := range acc {
			m = append(m, &nn.Metrics{Loss: 1 - a, Accuracy: a, Confusion: [][]int{{1}}})
		}
		return m
	}
	regression := func(loss ...float64) []*nn.Metrics {
		var m []*nn.Metrics
		for _, l := range loss {
			m = append(m, &nn.Metrics{Loss: l, RMSE: l})
		}
		return m
	}
	tests := []struct {
		name     string
		task     string
		val      []*nn.Metrics // nil: no validation set
		test     []*nn.Metrics
		patience int
		saved    int
		stop     bool
	}{
		{"classes, best in the middle", TaskClassification, classes(0.5, 0.8, 0.7, 0.75), classes(0.4, 0.7, 0.9, 0.6), 0, 2, false},
		{"classes, early stop", TaskClassification, classes(0.5, 0.8, 0.7, 0.75), classes(0.4, 0.7, 0.9, 0.6), 2, 2, true},
		{"regression, lower loss", TaskRegression, regression(3, 1, 2, 0.5, 0.7), regression(3, 1, 2, 0.5, 0.7), 0, 4, false},
		{"no validation: the latest", TaskClassification, nil, classes(0.4, 0.7, 0.6), 0, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hasVal := tc.val != nil
			observed := NewTracker([]float32{0}, hasVal, tc.patience)
			h := &History{Task: tc.task}
			var stop bool
			for i, test := range tc.test {
				er := EpochReport{Epoch: i + 1, Test: test, TrainLoss: float64(i)}
				if hasVal {
					er.Val = tc.val[i]
				}
				stop = observed.Observe(&er, []float32{float32(i + 1)})
				h.Epochs = append(h.Epochs, Row(&er))
				if stop {
					break
				}
			}
			replayed := NewTracker([]float32{0}, hasVal, tc.patience)
			saved, replayStop := replayed.Replay(h)
			replayed.SetBest([]float32{float32(saved)}, saved)
			want, got := observed.Result(), replayed.Result()
			if saved != tc.saved || want.SavedEpoch != tc.saved {
				t.Errorf("saved epoch: replayed %d, observed %d, want %d", saved, want.SavedEpoch, tc.saved)
			}
			if replayStop != stop || stop != tc.stop {
				t.Errorf("early stop: replayed %v, observed %v, want %v", replayStop, stop, tc.stop)
			}
			for _, f := range []struct {
				name      string
				got, want any
			}{
				{"epochs", got.Epochs, want.Epochs},
				{"saved epoch", got.SavedEpoch, want.SavedEpoch},
				{"best test accuracy", got.BestTestAccuracy, want.BestTestAccuracy},
				{"best test epoch", got.BestTestEpoch, want.BestTestEpoch},
				{"stopped", got.Stopped, want.Stopped},
				{"saved test accuracy", fmt.Sprint(got.SavedTest.Accuracy), fmt.Sprint(want.SavedTest.Accuracy)},
				{"params", fmt.Sprint(replayed.Params()), fmt.Sprint(observed.Params())},
			} {
				if f.got != f.want {
					t.Errorf("%s: replayed %v, observed %v", f.name, f.got, f.want)
				}
			}
		})
	}
}
