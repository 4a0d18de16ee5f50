package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/ringtrain/ringtrain/internal/curves"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/train"
)

// maxInches bounds a picture's sides: at the PNG's 100 dots an inch, 100
// inches are 10,000 pixels.
const maxInches = 100

func newPlotCmd() *cobra.Command {
	var (
		output        string
		time          bool
		width, height float64
	)
	cmd := &cobra.Command{
		Use:   "plot HISTORY... -o FILE.png|FILE.svg",
		Short: "Draw learning curves of one or several runs to PNG or SVG",
		Long: "Draw the learning curves of runs: the loss (train solid, validation dashed, test dotted) and the\n" +
			"task's main score (accuracy, or RMSE for regression), one colour per run, so that recipes can be\n" +
			"compared. Each HISTORY is a history.csv or history.json, or a run's output directory; `coordinator\n" +
			"history JOB -o json > FILE` fetches a cluster job's.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, d := range []struct {
				flag string
				v    float64
			}{{"--width", width}, {"--height", height}} {
				if !(d.v > 0 && d.v <= maxInches) {
					return fmt.Errorf("%s %v: want inches in (0, %d]", d.flag, d.v, maxInches)
				}
			}
			format := strings.TrimPrefix(filepath.Ext(output), ".")
			if format != "png" && format != "svg" {
				return fmt.Errorf("-o %q: want a .png or .svg file", output)
			}
			var runs []*train.History
			seen := map[string]bool{}
			for _, a := range args {
				h, err := train.ReadHistory(a)
				if err != nil {
					return err
				}
				if len(h.Epochs) == 0 {
					return fmt.Errorf("%s: no epochs to draw", a)
				}
				if seen[h.Name] {
					h.Name = a // two runs of one job: tell them apart by where they are
				}
				seen[h.Name] = true
				runs = append(runs, h)
			}
			var b bytes.Buffer
			if err := curves.Draw(&b, runs, curves.Options{Time: time, Format: format, Width: vg.Length(width) * vg.Inch, Height: vg.Length(height) * vg.Inch}); err != nil {
				return err
			}
			if err := checkpoint.WriteFile(output, b.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d runs\n", output, len(runs))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "the picture to write: .png or .svg")
	cmd.Flags().BoolVar(&time, "time", false, "wall-clock seconds on the x axis instead of epochs")
	cmd.Flags().Float64Var(&width, "width", 10, "width in inches")
	cmd.Flags().Float64Var(&height, "height", 4, "height in inches")
	cmd.MarkFlagRequired("output")
	return cmd
}
