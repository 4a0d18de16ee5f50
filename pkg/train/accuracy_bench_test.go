package train

import (
	"context"
	"testing"
	"time"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
)

// showcaseSpec is the showcase job, relative to this package's directory.
const showcaseSpec = "../../examples/fashion-mnist.yaml"

// accuracyObserver ignores progress: the benchmark reads Result.History.
type accuracyObserver struct{}

func (accuracyObserver) Step(StepProgress) {}
func (accuracyObserver) Epoch(EpochReport) {}

// BenchmarkFashionMNISTAccuracy trains the showcase job once per iteration
// (run it with -benchtime 1x) and reports the best test accuracy of any
// epoch, the test accuracy of the saved (validation-selected) model, the
// wall seconds to the first epoch reaching 88%, 89% and 90% test accuracy
// (-1 when never reached) and the whole run's seconds.
func BenchmarkFashionMNISTAccuracy(b *testing.B) {
	if _, _, err := data.FashionMNIST(""); err != nil {
		b.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, or set $RINGTRAIN_DATA): %v", err)
	}
	spec, err := jobspec.Load(showcaseSpec)
	if err != nil {
		b.Fatal(err)
	}
	sets, err := LoadData(spec)
	if err != nil {
		b.Fatal(err)
	}
	thresholds := []struct {
		acc  float64
		unit string
	}{{0.88, "s-to-88%"}, {0.89, "s-to-89%"}, {0.90, "s-to-90%"}}

	for b.Loop() {
		spec.Output.Dir = b.TempDir()
		res, err := Run[float32](context.Background(), spec, sets, accuracyObserver{})
		if err != nil {
			b.Fatal(err)
		}
		saved := -1.0
		if res.SavedTest != nil {
			saved = 100 * res.SavedTest.Accuracy
		}
		b.ReportMetric(100*res.BestTestAccuracy, "best-test-%")
		b.ReportMetric(saved, "saved-test-%")
		for _, th := range thresholds {
			secs := -1.0
			for _, er := range res.History {
				if er.Test != nil && er.Test.Accuracy >= th.acc {
					secs = er.Elapsed.Seconds()
					break
				}
			}
			b.ReportMetric(secs, th.unit)
		}
		b.ReportMetric(res.Wall.Seconds(), "s-total")
		b.Logf("%d epochs (%s); saved epoch %d: test %.2f%%; best test %.2f%% at epoch %d; %s",
			res.Epochs, res.Stopped, res.SavedEpoch, saved, 100*res.BestTestAccuracy, res.BestTestEpoch, res.Wall.Round(time.Millisecond))
		if want := spec.Training.TargetAccuracy; want > 0 && saved < 100*want {
			b.Errorf("saved model's test accuracy %.2f%% is below the job's target_accuracy %.2f%%", saved, 100*want)
		}
	}
}
