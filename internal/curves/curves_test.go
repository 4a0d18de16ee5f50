package curves

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/train"
)

func history(name, task string, epochs int) *train.History {
	h := &train.History{Name: name, Task: task}
	for e := 1; e <= epochs; e++ {
		s := &train.SetScores{Loss: 1 / float64(e), Accuracy: 1 - 1/float64(e+1), RMSE: 1 / float64(e)}
		h.Epochs = append(h.Epochs, train.HistoryRow{Epoch: e, ElapsedSeconds: float64(e) * 1.5, TrainLoss: 1.2 / float64(e), Val: s, Test: s, Attempts: 1})
	}
	return h
}

func TestDraw(t *testing.T) {
	tests := []struct {
		name string
		runs []*train.History
		o    Options
		err  error // want errors.Is; nil: a picture
	}{
		{"one run, png", []*train.History{history("a", train.TaskClassification, 5)}, Options{Format: "png"}, nil},
		{"two runs against time, svg", []*train.History{history("a", train.TaskClassification, 5), history("b", train.TaskClassification, 3)}, Options{Format: "svg", Time: true}, nil},
		{"regression", []*train.History{history("r", train.TaskRegression, 4)}, Options{Format: "png"}, nil},
		{"mixed tasks", []*train.History{history("a", train.TaskClassification, 2), history("r", train.TaskRegression, 2)}, Options{Format: "png"}, ErrMixedTasks},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		err := Draw(&b, tc.runs, tc.o)
		switch {
		case tc.err != nil:
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: got %v want %v", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.o.Format == "png":
			img, err := png.Decode(&b)
			if err != nil {
				t.Errorf("%s: not a PNG: %v", tc.name, err)
			} else if r := img.Bounds(); r.Dx() != 1000 || r.Dy() != 400 {
				t.Errorf("%s: %v pixels, want 1000×400 (10×4 inches at 100 dpi)", tc.name, r)
			}
		default:
			svg := b.String()
			if !strings.Contains(svg, "<svg") || !strings.Contains(svg, "accuracy") {
				t.Errorf("%s: not the SVG expected: %.200s", tc.name, svg)
			}
		}
	}
	if err := Draw(&bytes.Buffer{}, nil, Options{}); err == nil {
		t.Error("no runs: drew something")
	}
	if err := Draw(&bytes.Buffer{}, []*train.History{history("a", train.TaskRegression, 1)}, Options{Format: "gif"}); err == nil {
		t.Error("gif: drew something")
	}
}
