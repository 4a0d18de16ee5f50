package train

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

// The tasks a History can be of: what its scores are.
const (
	TaskClassification = "classification"
	TaskRegression     = "regression"
)

// History is a run's learning curve: one row per completed epoch. Every
// run keeps it in its output directory as history.csv and history.json
// (Save), and `coordinator history` and `coordinator plot` read it.
type History struct {
	// Name is the job's name; Task says which scores the rows carry.
	Name   string       `json:"name"`
	Task   string       `json:"task"`
	Epochs []HistoryRow `json:"epochs"`
}

// HistoryRow is one epoch.
type HistoryRow struct {
	Epoch          int     `json:"epoch"`
	ElapsedSeconds float64 `json:"elapsed_seconds"` // since the run started
	TrainLoss      float64 `json:"train_loss"`
	// Val and Test are nil when the run has no such set.
	Val           *SetScores `json:"val,omitempty"`
	Test          *SetScores `json:"test,omitempty"`
	SamplesPerSec float64    `json:"samples_per_sec"`
	LearningRate  float64    `json:"learning_rate"` // at the epoch's last step
	Workers       int        `json:"workers"`       // 0: one process
	Attempts      int        `json:"attempts"`      // 1 unless the epoch was redone
}

// SetScores are a model's scores on one set after an epoch: the loss, and
// accuracy (classification) or RMSE, MAE and R² (regression).
type SetScores struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy,omitempty"`
	RMSE     float64 `json:"rmse,omitempty"`
	MAE      float64 `json:"mae,omitempty"`
	R2       float64 `json:"r2,omitempty"`
}

// TaskOf returns the task of a network of arch: what its history scores.
func TaskOf(arch nn.Architecture) string {
	if arch.Classifies() {
		return TaskClassification
	}
	return TaskRegression
}

// Scores returns m's scores, nil for nil.
func Scores(m *nn.Metrics) *SetScores {
	if m == nil {
		return nil
	}
	return &SetScores{Loss: m.Loss, Accuracy: m.Accuracy, RMSE: m.RMSE, MAE: m.MAE, R2: m.R2}
}

// metrics returns s as Metrics (without the confusion matrix and label
// accuracies a history does not keep), nil for nil.
func (s *SetScores) metrics() *nn.Metrics {
	if s == nil {
		return nil
	}
	return &nn.Metrics{Loss: s.Loss, Accuracy: s.Accuracy, RMSE: s.RMSE, MAE: s.MAE, R2: s.R2}
}

// Row returns er's row of a history.
func Row(er *EpochReport) HistoryRow {
	return HistoryRow{Epoch: er.Epoch, ElapsedSeconds: er.Elapsed.Seconds(), TrainLoss: er.TrainLoss, Val: Scores(er.Val), Test: Scores(er.Test),
		SamplesPerSec: er.SamplesPerSec, LearningRate: er.LearningRate, Workers: er.Workers, Attempts: max(er.Attempts, 1)}
}

// column is one column of the CSV form: its name and how to read and
// write it.
type column struct {
	name string
	get  func(*HistoryRow) (float64, bool)
	set  func(*HistoryRow, float64)
}

func rowColumn(name string, f func(*HistoryRow) *float64) column {
	return column{name, func(r *HistoryRow) (float64, bool) { return *f(r), true }, func(r *HistoryRow, v float64) { *f(r) = v }}
}

func setColumn(set, name string, which func(*HistoryRow) **SetScores, f func(*SetScores) *float64) column {
	return column{set + "_" + name,
		func(r *HistoryRow) (float64, bool) {
			if s := *which(r); s != nil {
				return *f(s), true
			}
			return 0, false
		},
		func(r *HistoryRow, v float64) {
			if *which(r) == nil {
				*which(r) = &SetScores{}
			}
			*f(*which(r)) = v
		}}
}

// score is a field of SetScores, by its CSV name.
type score struct {
	name string
	f    func(*SetScores) *float64
}

// columns returns the CSV columns of a history of task, in order.
func columns(task string) []column {
	cols := []column{
		{"epoch", func(r *HistoryRow) (float64, bool) { return float64(r.Epoch), true }, func(r *HistoryRow, v float64) { r.Epoch = int(v) }},
		rowColumn("elapsed_seconds", func(r *HistoryRow) *float64 { return &r.ElapsedSeconds }),
		rowColumn("train_loss", func(r *HistoryRow) *float64 { return &r.TrainLoss }),
	}
	scores := []score{{"loss", func(s *SetScores) *float64 { return &s.Loss }}}
	if task == TaskRegression {
		scores = append(scores,
			score{"rmse", func(s *SetScores) *float64 { return &s.RMSE }},
			score{"mae", func(s *SetScores) *float64 { return &s.MAE }},
			score{"r2", func(s *SetScores) *float64 { return &s.R2 }})
	} else {
		scores = append(scores, score{"accuracy", func(s *SetScores) *float64 { return &s.Accuracy }})
	}
	for _, set := range []struct {
		name  string
		which func(*HistoryRow) **SetScores
	}{{"val", func(r *HistoryRow) **SetScores { return &r.Val }}, {"test", func(r *HistoryRow) **SetScores { return &r.Test }}} {
		for _, sc := range scores {
			cols = append(cols, setColumn(set.name, sc.name, set.which, sc.f))
		}
	}
	return append(cols,
		rowColumn("samples_per_sec", func(r *HistoryRow) *float64 { return &r.SamplesPerSec }),
		rowColumn("learning_rate", func(r *HistoryRow) *float64 { return &r.LearningRate }),
		column{"workers", func(r *HistoryRow) (float64, bool) { return float64(r.Workers), true }, func(r *HistoryRow, v float64) { r.Workers = int(v) }},
		column{"attempts", func(r *HistoryRow) (float64, bool) { return float64(r.Attempts), true }, func(r *HistoryRow, v float64) { r.Attempts = int(v) }},
	)
}

// WriteCSV writes h as CSV: a header, then a row per epoch; a set the run
// does not have leaves its cells empty.
func (h *History) WriteCSV(w io.Writer) error {
	cols := columns(h.Task)
	cw := csv.NewWriter(w)
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = c.name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for i := range h.Epochs {
		for j, c := range cols {
			rec[j] = ""
			if v, ok := c.get(&h.Epochs[i]); ok {
				rec[j] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes h as one indented JSON document.
func (h *History) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(h)
}

// Save writes h into dir as history.csv and history.json, each atomically.
func (h *History) Save(dir string) error {
	var c, j bytes.Buffer
	if err := h.WriteCSV(&c); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := h.WriteJSON(&j); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := checkpoint.WriteFile(filepath.Join(dir, "history.csv"), c.Bytes()); err != nil {
		return err
	}
	return checkpoint.WriteFile(filepath.Join(dir, "history.json"), j.Bytes())
}

// ErrHistory is wrapped by ReadHistory's errors about a file's content.
var ErrHistory = errors.New("not a history")

// ReadHistory reads a history file that Save wrote: JSON (.json) or CSV
// (anything else, read by its header). A directory means its history.json.
func ReadHistory(path string) (*History, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "history.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var h History
	if strings.HasSuffix(path, ".json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrHistory, err)
		}
	} else if err := h.readCSV(b); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrHistory, err)
	}
	if h.Task != TaskClassification && h.Task != TaskRegression {
		return nil, fmt.Errorf("%s: %w: task %q", path, ErrHistory, h.Task)
	}
	if err := h.checkRows(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrHistory, err)
	}
	if h.Name == "" {
		h.Name = strings.TrimSuffix(filepath.Base(filepath.Dir(path)), "/")
	}
	return &h, nil
}

// intColumns are the CSV columns of whole numbers.
var intColumns = map[string]bool{"epoch": true, "workers": true, "attempts": true}

// checkRows checks what either encoding of a history may get wrong.
func (h *History) checkRows() error {
	for i, r := range h.Epochs {
		switch {
		case r.Epoch < 1 || r.Epoch > jobspec.MaxEpochs:
			return fmt.Errorf("row %d: epoch %d not in [1, %d]", i+1, r.Epoch, jobspec.MaxEpochs)
		case r.Workers < 0 || r.Attempts < 0:
			return fmt.Errorf("row %d: %d workers, %d attempts: want no negative count", i+1, r.Workers, r.Attempts)
		}
	}
	return nil
}

// readCSV fills h from CSV: the task is regression when the header has
// rmse columns.
func (h *History) readCSV(b []byte) error {
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return errors.New("empty")
	}
	h.Task = TaskClassification
	for _, name := range recs[0] {
		if strings.HasSuffix(name, "_rmse") {
			h.Task = TaskRegression
		}
	}
	byName := map[string]column{}
	for _, c := range columns(h.Task) {
		byName[c.name] = c
	}
	for _, name := range recs[0] {
		if _, ok := byName[name]; !ok {
			return fmt.Errorf("unknown column %q", name)
		}
	}
	for i, rec := range recs[1:] {
		var r HistoryRow
		for j, cell := range rec {
			if cell == "" {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			switch {
			case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("row %d, %s: %q is not a finite number", i+1, recs[0][j], cell)
			case intColumns[recs[0][j]] && (v != math.Trunc(v) || math.Abs(v) > math.MaxInt32):
				return fmt.Errorf("row %d, %s: %q is not a whole number", i+1, recs[0][j], cell)
			}
			byName[recs[0][j]].set(&r, v)
		}
		h.Epochs = append(h.Epochs, r)
	}
	return nil
}
