package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

func newPredictCmd() *cobra.Command {
	var modelPath, input, output, format string
	cmd := &cobra.Command{
		Use:   "predict -m MODEL -i INPUTS [-o OUT.csv]",
		Short: "Predict classes (or regression targets) for new inputs",
		Long: "Read inputs from an IDX image file (gzipped or raw) or a CSV file of feature columns,\n" +
			"and write one CSV row per input: its index, the predicted class and its name and\n" +
			"probability, or the predicted targets of a regression model.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := checkpoint.LoadModel[float32](modelPath)
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
				ds, err = data.LoadCSV(input, data.CSVOptions{NoTargets: true})
			default:
				return fmt.Errorf("--format: %q is not idx or csv", format)
			}
			if err != nil {
				return err
			}
			if ds.Features != m.Arch.Inputs {
				return fmt.Errorf("%s has %d features per input; model %s takes %d", input, ds.Features, modelPath, m.Arch.Inputs)
			}
			w := cmd.OutOrStdout()
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("create predictions file: %w", err)
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			if err := predict(bw, m, ds); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write predictions: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&modelPath, "model", "m", "", "model file (safetensors)")
	cmd.Flags().StringVarP(&input, "input", "i", "", "inputs: IDX images or CSV features")
	cmd.Flags().StringVarP(&output, "output", "o", "-", "predictions CSV (- for standard output)")
	cmd.Flags().StringVar(&format, "format", "", "idx or csv (default: csv for *.csv, else idx)")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("input")
	return cmd
}

// predict writes one CSV row per input of ds, in batches.
func predict(w io.Writer, m *checkpoint.Model[float32], ds *data.Dataset) error {
	net, err := nn.New[float32](m.Arch)
	if err != nil {
		return err
	}
	copy(net.Params(), m.Params)
	const rows = 1024
	ws := nn.NewWorkspace[float32](m.Arch, rows)
	outs := m.Arch.Outputs()
	classes := m.Arch.Layers[len(m.Arch.Layers)-1].Activation == "softmax" || m.Arch.Cost != "mse"
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
	for lo := 0; lo < ds.Len(); lo += rows {
		n := min(rows, ds.Len()-lo)
		out := net.Forward(ws, ds.X[lo*ds.Features:(lo+n)*ds.Features], n)
		if !classes {
			for i := range n {
				fmt.Fprint(w, lo+i)
				for _, v := range out[i*outs : (i+1)*outs] {
					fmt.Fprintf(w, ",%g", v)
				}
				fmt.Fprintln(w)
			}
			continue
		}
		nn.Argmax(out, n, outs, pred[:n])
		for i, c := range pred[:n] {
			name := ""
			if c < len(m.Labels) {
				name = m.Labels[c]
			}
			if _, err := fmt.Fprintf(w, "%d,%d,%s,%.4f\n", lo+i, c, csvField(name), out[i*outs+c]); err != nil {
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
