package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
)

func newEvalCmd() *cobra.Command {
	var modelPath, file, split, output string
	cmd := &cobra.Command{
		Use:   "eval -m MODEL -f JOB.yaml",
		Short: "Report a saved model's loss, accuracy and confusion matrix on a job's data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output: %q is not text or json", output)
			}
			prec, err := checkpoint.FilePrecision(modelPath)
			if err != nil {
				return err
			}
			spec, err := jobspec.Load(file)
			if err != nil {
				return err
			}
			// Raw: the model scales them as its training did.
			sets, err := train.LoadRawData(spec)
			if err != nil {
				return err
			}
			ds := map[string]*data.Dataset{"train": sets.Train, "val": sets.Val, "test": sets.Test}[split]
			if ds == nil {
				return fmt.Errorf("--split: job %s has no %q set (have train, test%s)", spec.Name, split, map[bool]string{true: ", val"}[sets.Val != nil])
			}
			// In the precision the model was trained in, so that the
			// figures are the ones its training reported.
			evalFile := evaluateFile[float32]
			if prec == precision.Float64 {
				evalFile = evaluateFile[float64]
			}
			met, labels, err := evalFile(modelPath, ds)
			if err != nil {
				return fmt.Errorf("evaluate %s on %s: %w", modelPath, split, err)
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					Split    string       `json:"split"`
					Labels   []string     `json:"labels,omitempty"`
					Result   nn.Metrics   `json:"result"`
					PerClass []classScore `json:"per_class,omitempty"`
				}{split, labels, met, perClass(met.Confusion, labels)})
			}
			printMetrics(cmd.OutOrStdout(), split, met, labels)
			return nil
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "model file (safetensors)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "job spec whose data to evaluate on")
	cmd.Flags().StringVar(&split, "split", "test", "which set: test, val or train")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("file")
	return cmd
}

// evaluateFile scores the model at path on ds in precision T, and returns
// the model's class names too.
func evaluateFile[T nn.Float](path string, ds *data.Dataset) (nn.Metrics, []string, error) {
	m, err := checkpoint.LoadModel[T](path)
	if err != nil {
		return nn.Metrics{}, nil, err
	}
	if m.Scaler != nil {
		if err := m.Scaler.Apply(ds); err != nil {
			return nn.Metrics{}, nil, err
		}
	}
	if m.TargetScaler != nil {
		if err := m.TargetScaler.ApplyTargets(ds); err != nil {
			return nn.Metrics{}, nil, err
		}
	}
	met, err := evaluate(m, ds)
	return met, m.Labels, err
}

// evaluate scores model m on ds after checking that they fit each other.
func evaluate[T nn.Float](m *checkpoint.Model[T], ds *data.Dataset) (nn.Metrics, error) {
	if ds.Features != m.Arch.Inputs || ds.TargetWidth() != m.Arch.Outputs() {
		return nn.Metrics{}, fmt.Errorf("model takes %d inputs and gives %d outputs; data has %d features and %d targets",
			m.Arch.Inputs, m.Arch.Outputs(), ds.Features, ds.TargetWidth())
	}
	net, err := nn.New[T](m.Arch)
	if err != nil {
		return nn.Metrics{}, err
	}
	copy(net.Params(), m.Params)
	xy := train.Tensors[T](ds)
	var units *nn.Units
	if sc := m.TargetScaler; sc != nil {
		units = &nn.Units{Offset: sc.Offset, Scale: sc.Scale}
	}
	return net.EvaluateIn(nn.NewWorkspace[T](m.Arch, 1024), xy[0], xy[1], ds.Len(), units), nil
}

// classScore is how a model does on one class: of the rows it put in the
// class, the fraction that are (precision); of the rows of the class, the
// fraction it found (recall); their harmonic mean (F1); and how many rows
// are of the class (support).
type classScore struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// perClass scores each class of a confusion matrix (rows: true class,
// columns: predicted); nil for regression.
func perClass(confusion [][]int, labels []string) []classScore {
	var out []classScore
	for c := range confusion {
		name := fmt.Sprint(c)
		if c < len(labels) {
			name = labels[c]
		}
		predicted, support := 0, 0
		for i := range confusion {
			predicted += confusion[i][c]
			support += confusion[c][i]
		}
		sc := classScore{Class: name, Support: support}
		if predicted > 0 {
			sc.Precision = float64(confusion[c][c]) / float64(predicted)
		}
		if support > 0 {
			sc.Recall = float64(confusion[c][c]) / float64(support)
		}
		if sc.Precision+sc.Recall > 0 {
			sc.F1 = 2 * sc.Precision * sc.Recall / (sc.Precision + sc.Recall)
		}
		out = append(out, sc)
	}
	return out
}

func printMetrics(w io.Writer, split string, m nn.Metrics, labels []string) {
	fmt.Fprintf(w, "%s: %d samples, loss %.5f", split, m.N, m.Loss)
	if m.Confusion == nil {
		fmt.Fprintf(w, ", rmse %.5g, mae %.5g, r² %.4f\n", m.RMSE, m.MAE, m.R2)
		fmt.Fprintln(w, "(loss: the cost per sample, for mse ½·Σ(ŷ−y)² over the outputs: half the squared error; rmse and mae in the targets' units)")
		return
	}
	fmt.Fprintf(w, ", accuracy %.2f%%\n\nconfusion matrix (rows: true class, columns: predicted)\n", 100*m.Accuracy)
	scores := perClass(m.Confusion, labels)
	width := 6
	for _, sc := range scores {
		width = max(width, len(sc.Class))
	}
	fmt.Fprintf(w, "%*s", width, "")
	for j := range m.Confusion {
		fmt.Fprintf(w, " %5d", j)
	}
	fmt.Fprintf(w, "  %9s %6s %6s %7s\n", "precision", "recall", "f1", "support")
	for i, row := range m.Confusion {
		fmt.Fprintf(w, "%*s", width, scores[i].Class)
		for _, c := range row {
			fmt.Fprintf(w, " %5d", c)
		}
		sc := scores[i]
		fmt.Fprintf(w, "  %8.1f%% %5.1f%% %6.3f %7d\n", 100*sc.Precision, 100*sc.Recall, sc.F1, sc.Support)
	}
	fmt.Fprintln(w, strings.Repeat("-", width+6*len(m.Confusion)+34))
	if len(m.LabelAccuracy) > 0 {
		fmt.Fprintf(w, "per-label accuracy (each sigmoid output ≥ 0.5 against its target):")
		for j, a := range m.LabelAccuracy {
			name := fmt.Sprint(j)
			if len(m.LabelAccuracy) > 1 && j < len(labels) {
				name = labels[j]
			}
			fmt.Fprintf(w, " %s %.2f%%", name, 100*a)
		}
		fmt.Fprintln(w)
	}
}
