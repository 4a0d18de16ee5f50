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
			sets, err := train.LoadData(spec)
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
			if prec == "float64" {
				evalFile = evaluateFile[float64]
			}
			met, labels, err := evalFile(modelPath, ds)
			if err != nil {
				return fmt.Errorf("evaluate %s on %s: %w", modelPath, split, err)
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					Split  string     `json:"split"`
					Labels []string   `json:"labels,omitempty"`
					Result nn.Metrics `json:"result"`
				}{split, labels, met})
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
	return net.Evaluate(nn.NewWorkspace[T](m.Arch, 1024), xy[0], xy[1], ds.Len()), nil
}

func printMetrics(w io.Writer, split string, m nn.Metrics, labels []string) {
	fmt.Fprintf(w, "%s: %d samples, loss %.5f", split, m.N, m.Loss)
	if m.Confusion == nil {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, ", accuracy %.2f%%\n\nconfusion matrix (rows: true class, columns: predicted)\n", 100*m.Accuracy)
	name := func(i int) string {
		if i < len(labels) {
			return labels[i]
		}
		return fmt.Sprint(i)
	}
	width := 6
	for i := range m.Confusion {
		width = max(width, len(name(i)))
	}
	fmt.Fprintf(w, "%*s", width, "")
	for j := range m.Confusion {
		fmt.Fprintf(w, " %5d", j)
	}
	fmt.Fprintf(w, "  %s\n", "recall")
	for i, row := range m.Confusion {
		fmt.Fprintf(w, "%*s", width, name(i))
		total := 0
		for _, c := range row {
			fmt.Fprintf(w, " %5d", c)
			total += c
		}
		recall := 0.0
		if total > 0 {
			recall = float64(row[i]) / float64(total)
		}
		fmt.Fprintf(w, "  %5.1f%%\n", 100*recall)
	}
	fmt.Fprintln(w, strings.Repeat("-", width+6*len(m.Confusion)+9))
}
