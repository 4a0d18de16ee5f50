// Package curves draws learning curves: the loss and the task's main score
// (accuracy, or RMSE for regression) of one or several runs' histories,
// per epoch or against wall time, to PNG or SVG, with gonum/plot.
//
// It reads nothing from disk and knows nothing of jobs: package train
// keeps and reads histories.
package curves

import (
	"errors"
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ringtrain/ringtrain/pkg/train"
)

// Options say how to draw.
type Options struct {
	// Time puts wall-clock seconds on the x axis instead of epochs.
	Time bool
	// Format is "png" or "svg".
	Format string
	// Width and Height of the whole picture (both panels).
	Width, Height vg.Length
}

// ErrMixedTasks is returned by Draw for histories of different tasks: their
// scores cannot share an axis.
var ErrMixedTasks = errors.New("curves: histories of classification and regression cannot share a plot")

// Draw writes the learning curves of runs to w: the loss on the left (train
// solid, validation dashed, test dotted), the main score on the right; one
// colour per run, named by its History's Name.
func Draw(w io.Writer, runs []*train.History, o Options) error {
	if len(runs) == 0 {
		return errors.New("curves: no history to draw")
	}
	task := runs[0].Task
	for _, h := range runs[1:] {
		if h.Task != task {
			return ErrMixedTasks
		}
	}
	loss, score := plot.New(), plot.New()
	loss.Title.Text, loss.Y.Label.Text = "loss", "loss"
	score.Title.Text, score.Y.Label.Text = "accuracy", "accuracy"
	if task == train.TaskRegression {
		score.Title.Text, score.Y.Label.Text = "RMSE", "RMSE (targets' units)"
	}
	for _, p := range []*plot.Plot{loss, score} {
		p.X.Label.Text = "epoch"
		if o.Time {
			p.X.Label.Text = "seconds"
		}
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
	}
	if task == train.TaskClassification {
		score.Legend.Left, score.Legend.Top = false, false // accuracy rises to the top right
	}
	for i, h := range runs {
		c := plotutil.Color(i)
		x := func(r train.HistoryRow) float64 {
			if o.Time {
				return r.ElapsedSeconds
			}
			return float64(r.Epoch)
		}
		series := []struct {
			name   string
			dashes []vg.Length
			plot   *plot.Plot
			y      func(train.HistoryRow) (float64, bool)
		}{
			{"train", nil, loss, func(r train.HistoryRow) (float64, bool) { return r.TrainLoss, true }},
			{"val", []vg.Length{vg.Points(6), vg.Points(3)}, loss, setScore(func(r train.HistoryRow) *train.SetScores { return r.Val }, lossOf)},
			{"test", []vg.Length{vg.Points(1), vg.Points(2)}, loss, setScore(func(r train.HistoryRow) *train.SetScores { return r.Test }, lossOf)},
			{"val", []vg.Length{vg.Points(6), vg.Points(3)}, score, setScore(func(r train.HistoryRow) *train.SetScores { return r.Val }, mainScore(task))},
			{"test", []vg.Length{vg.Points(1), vg.Points(2)}, score, setScore(func(r train.HistoryRow) *train.SetScores { return r.Test }, mainScore(task))},
		}
		for _, s := range series {
			var xy plotter.XYs
			for _, r := range h.Epochs {
				if y, ok := s.y(r); ok {
					xy = append(xy, plotter.XY{X: x(r), Y: y})
				}
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("curves: %s of %s: %w", s.name, h.Name, err)
			}
			l.Color, l.Dashes, l.Width = c, s.dashes, vg.Points(1.5)
			s.plot.Add(l)
			// One run: a key for each line. Several: a key for each run,
			// and the titles say which line is which set.
			switch {
			case len(runs) == 1:
				s.plot.Legend.Add(s.name, l)
			case s.name == "train" || (s.plot == score && s.name == "val"):
				s.plot.Legend.Add(h.Name, l)
			}
		}
	}
	if len(runs) > 1 {
		loss.Title.Text += " (train solid, validation dashed, test dotted)"
		score.Title.Text += " (validation dashed, test dotted)"
	}
	return write(w, [][]*plot.Plot{{loss, score}}, o)
}

func lossOf(s *train.SetScores) float64 { return s.Loss }

// mainScore is the score the right panel shows.
func mainScore(task string) func(*train.SetScores) float64 {
	if task == train.TaskRegression {
		return func(s *train.SetScores) float64 { return s.RMSE }
	}
	return func(s *train.SetScores) float64 { return s.Accuracy }
}

func setScore(set func(train.HistoryRow) *train.SetScores, f func(*train.SetScores) float64) func(train.HistoryRow) (float64, bool) {
	return func(r train.HistoryRow) (float64, bool) {
		if s := set(r); s != nil {
			return f(s), true
		}
		return 0, false
	}
}

// write lays the plots out side by side on a canvas of o's format and size
// and encodes it to w.
func write(w io.Writer, plots [][]*plot.Plot, o Options) error {
	width, height := o.Width, o.Height
	if width == 0 {
		width = 10 * vg.Inch
	}
	if height == 0 {
		height = 4 * vg.Inch
	}
	type canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	var c canvas
	switch o.Format {
	case "png", "":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(100), vgimg.UseBackgroundColor(color.White))}
	case "svg":
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("curves: format %q: want png or svg", o.Format)
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Inch / 4, PadY: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	cs := plot.Align(plots, tiles, draw.New(c))
	for i, row := range plots {
		for j, p := range row {
			p.Draw(cs[i][j])
		}
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("curves: write %s: %w", o.Format, err)
	}
	return nil
}
