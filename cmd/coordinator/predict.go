package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/train"
)

func newPredictCmd() *cobra.Command {
	var modelPath, input, output, format string
	var header bool
	cmd := &cobra.Command{
		Use:   "predict -m MODEL -i INPUTS [-o OUT.csv]",
		Short: "Predict classes (or regression targets) for new inputs",
		Long: "Read inputs from an IDX image file (gzipped or raw) or a CSV file of feature columns,\n" +
			"and write one CSV row per input: its index, the predicted class and its name and\n" +
			"probability, or the predicted targets of a regression model.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prec, err := checkpoint.FilePrecision(modelPath)
			if err != nil {
				return err
			}
			if format == "" {
				format = "idx"
				if strings.HasSuffix(strings.ToLower(input), ".csv") {
					format = "csv"
				}
			}
			var ds *data.Dataset
			switch format {
			case "idx":
				ds, err = data.LoadIDX(input, "")
			case "csv":
				ds, err = data.LoadCSV(input, data.CSVOptions{NoTargets: true, Header: header})
			default:
				return fmt.Errorf("--format: %q is not idx or csv", format)
			}
			if err != nil {
				return err
			}
			predictFile := predictWith[float32]
			if prec == precision.Float64 {
				predictFile = predictWith[float64]
			}
			// Predict in memory first: a model that does not fit the
			// inputs, or any other failure, leaves the output file as it was.
			var buf bytes.Buffer
			if err := predictFile(&buf, modelPath, input, ds); err != nil {
				return err
			}
			if output != "" && output != "-" {
				return checkpoint.WriteFile(output, buf.Bytes())
			}
			if _, err := buf.WriteTo(cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("write predictions: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "model file (safetensors)")
	cmd.Flags().StringVarP(&input, "input", "i", "", "inputs: IDX images or CSV features")
	cmd.Flags().StringVarP(&output, "output", "o", "-", "predictions CSV (- for standard output)")
	cmd.Flags().StringVar(&format, "format", "", "idx or csv (default: csv for *.csv, else idx)")
	cmd.Flags().BoolVar(&header, "header", false, "the CSV's first line is a header (without it, a first line is taken for one only if none of its fields is a number)")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("input")
	return cmd
}

// predictWith loads the model at path in precision T, the one it was
// trained in, and predicts the inputs of ds, read from input.
func predictWith[T nn.Float](w io.Writer, path, input string, ds *data.Dataset) error {
	m, err := checkpoint.LoadModel[T](path)
	if err != nil {
		return err
	}
	if ds.Features != m.Arch.Inputs {
		return fmt.Errorf("%s has %d features per input; model %s takes %d", input, ds.Features, path, m.Arch.Inputs)
	}
	if m.Scaler != nil {
		// Raw inputs, scaled as the model's training inputs were.
		if err := m.Scaler.Apply(ds); err != nil {
			return err
		}
	}
	return predict(w, m, ds)
}

// predict writes one CSV row per input of ds, in batches.
func predict[T nn.Float](w io.Writer, m *checkpoint.Model[T], ds *data.Dataset) error {
	net, err := nn.New[T](m.Arch)
	if err != nil {
		return err
	}
	copy(net.Params(), m.Params)
	const rows = 1024
	ws := nn.NewWorkspace[T](m.Arch, rows)
	outs := m.Arch.Outputs()
	classes := m.Arch.Classifies() // as eval scores it
	if classes {
		fmt.Fprintln(w, "index,class,name,probability")
	} else {
		cols := []string{"index"}
		for j := range outs {
			cols = append(cols, "y"+strconv.Itoa(j))
		}
		fmt.Fprintln(w, strings.Join(cols, ","))
	}
	pred := make([]int, rows)
	x := train.Tensors[T](ds)[0]
	for lo := 0; lo < ds.Len(); lo += rows {
		n := min(rows, ds.Len()-lo)
		out := net.Forward(ws, x[lo*ds.Features:(lo+n)*ds.Features], n)
		if !classes {
			row := make([]float64, outs)
			for i := range n {
				fmt.Fprint(w, lo+i)
				for j, v := range out[i*outs : (i+1)*outs] {
					row[j] = float64(v)
				}
				if m.TargetScaler != nil {
					m.TargetScaler.Unscale(row) // in the targets' own units
				}
				for _, v := range row {
					fmt.Fprintf(w, ",%g", T(v)) // as precise as the model
				}
				fmt.Fprintln(w)
			}
			continue
		}
		nn.Classes(out, n, outs, pred[:n])
		for i, c := range pred[:n] {
			name := ""
			if c < len(m.Labels) {
				name = m.Labels[c]
			}
			p := out[i*outs+min(c, outs-1)]
			if outs == 1 && c == 0 {
				p = 1 - p // a single sigmoid output is class 1's probability
			}
			if _, err := fmt.Fprintf(w, "%d,%d,%s,%.4f\n", lo+i, c, csvField(name), p); err != nil {
				return fmt.Errorf("write predictions: %w", err)
			}
		}
	}
	return nil
}

// csvField quotes s when it holds a comma or quote (class names like
// "T-shirt/top" do not, but user labels may).
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
