package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/internal/blas"
	"github.com/ringtrain/ringtrain/internal/progress"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/localcluster"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
	"github.com/ringtrain/ringtrain/pkg/worker"
)

func newRunCmd() *cobra.Command {
	var (
		file, dataDir string
		workers       int
		bucketBytes   int
		transport     worker.RingTransport
	)
	cmd := &cobra.Command{
		Use:   "run -f JOB.yaml [--workers N]",
		Short: "Train a job on this machine: a ring of N workers in this process, or the bare engine with --workers 0",
		Long: "Train the job the spec describes on this machine and save the model (the best on validation,\n" +
			"or the last without a validation split) under output.dir.\n\n" +
			"With --workers N (default 2) this process runs a whole cluster: an embedded etcd, the\n" +
			"coordinator service and N workers that average gradients by ring all-reduce over TCP on\n" +
			"loopback (over gRPC with --ring-transport grpc). With --workers 0 it runs the training engine directly, with no cluster.\n" +
			"Ctrl-C stops the job and saves what was learned (with --workers N, in the epochs that\n" +
			"completed). A job that fails saves no model.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := jobspec.Load(file)
			if err != nil {
				return err
			}
			p := progress.New(cmd.OutOrStdout(), isTerminal(cmd.OutOrStdout()))
			if workers < 0 {
				return fmt.Errorf("--workers: %d, want >= 0", workers)
			}
			if workers > 0 {
				return runCluster(cmd, file, spec, localcluster.Config{Dir: dataDir, Workers: workers, RingTransport: transport, BucketBytes: worker.BucketFlag(bucketBytes)}, p)
			}
			sets, err := train.LoadData(spec)
			if err != nil {
				return err
			}
			var res *train.Result
			switch spec.Training.Precision {
			case precision.Float64:
				res, err = runLocal[float64](cmd, spec, sets, p)
			default:
				res, err = runLocal[float32](cmd, spec, sets, p)
			}
			if err != nil {
				return err
			}
			return report(p, spec, res)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "job spec (YAML)")
	cmd.Flags().IntVar(&workers, "workers", 2, "workers in the in-process ring; 0 trains without a cluster")
	cmd.Flags().Var(&transport, "ring-transport", "data plane of the workers' ring: tcp or grpc")
	cmd.Flags().IntVar(&bucketBytes, "bucket-bytes", worker.DefaultBucketBytes, "least bytes of the gradient buckets averaged while backpropagation goes on; 0: one all-reduce after it")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep the cluster's etcd data, checkpoints and job files here (default: a temporary directory)")
	cmd.MarkFlagRequired("file")
	return cmd
}

func runLocal[T nn.Float](cmd *cobra.Command, spec *jobspec.Spec, sets *train.Datasets, p *progress.Printer) (*train.Result, error) {
	arch := spec.Model.Architecture(sets.Train.Features)
	val := 0
	if sets.Val != nil {
		val = sets.Val.Len()
	}
	test := 0
	if sets.Test != nil {
		test = sets.Test.Len()
	}
	p.Line("job %s: %d train / %d validation / %d test samples; network %s (%s parameters, %s, BLAS %s)",
		spec.Name, sets.Train.Len(), val, test, layerSizes(arch), progress.Count(float64(arch.NumParams())), spec.Training.Precision, blas.Backend())
	return train.Run[T](cmd.Context(), spec, sets, observer{p})
}

func layerSizes(a nn.Architecture) string {
	parts := []string{fmt.Sprint(a.Inputs)}
	for _, l := range a.Layers {
		parts = append(parts, fmt.Sprint(l.Units))
	}
	return strings.Join(parts, "-")
}

// observer adapts training progress to the printer.
type observer struct{ p *progress.Printer }

func (o observer) Step(s train.StepProgress) {
	o.p.Step(progress.Update{Epoch: s.Epoch, Epochs: s.Epochs, Step: s.Step, Steps: s.Steps, Loss: s.Loss, SamplesPerSec: s.SamplesPerSec, ETA: s.ETA})
}

func (o observer) Epoch(e train.EpochReport) {
	line := fmt.Sprintf("epoch %d/%d  loss %.4f", e.Epoch, e.Epochs, e.TrainLoss)
	line += metric("val", e.Val) + metric("test", e.Test)
	line += fmt.Sprintf("  %s samples/s  %s", progress.Count(e.SamplesPerSec), e.Elapsed.Round(100*time.Millisecond))
	if e.Best {
		line += "  *"
	}
	o.p.Line("%s", line)
}

func metric(name string, m *nn.Metrics) string {
	switch {
	case m == nil:
		return ""
	case m.Confusion != nil:
		return fmt.Sprintf("  %s %.2f%%", name, 100*m.Accuracy)
	default:
		return regressionScore(name, m.RMSE, m.MAE, m.R2)
	}
}

func report(p *progress.Printer, spec *jobspec.Spec, res *train.Result) error {
	p.Line("%s after %d epochs in %s", res.Stopped, res.Epochs, res.Wall.Round(100*time.Millisecond))
	if res.BestTestEpoch > 0 {
		p.Line("best test accuracy %.2f%% (epoch %d)", 100*res.BestTestAccuracy, res.BestTestEpoch)
	}
	if res.SavedTest != nil && res.SavedTest.Confusion != nil {
		p.Line("saved model: epoch %d, test accuracy %.2f%%", res.SavedEpoch, 100*res.SavedTest.Accuracy)
	}
	p.Line("model saved to %s", res.ModelPath)
	if res.Interrupted {
		return &exitError{code: 130, err: fmt.Errorf("interrupted; the model so far is saved to %s", res.ModelPath)}
	}
	if want := spec.Training.TargetAccuracy; want > 0 && (res.SavedTest == nil || res.SavedTest.Accuracy < want) {
		got := 0.0
		if res.SavedTest != nil {
			got = res.SavedTest.Accuracy
		}
		return fmt.Errorf("test accuracy %.2f%% is below training.target_accuracy %.2f%%", 100*got, 100*want)
	}
	return nil
}
