package train

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestHistoryRoundTrip: what Save writes, ReadHistory reads back the same,
// from CSV and from JSON, for both tasks, with and without a validation set.
func TestHistoryRoundTrip(t *testing.T) {
	tests := []History{
		{Name: "cls", Task: TaskClassification, Epochs: []HistoryRow{
			{Epoch: 1, ElapsedSeconds: 1.5, TrainLoss: 0.7, Val: &SetScores{Loss: 0.6, Accuracy: 0.81}, Test: &SetScores{Loss: 0.65, Accuracy: 0.8}, SamplesPerSec: 1234.5, LearningRate: 0.05, Workers: 2, Attempts: 1},
			{Epoch: 2, ElapsedSeconds: 3, TrainLoss: 0.5, Val: &SetScores{Loss: 0.5, Accuracy: 0.85}, Test: &SetScores{Loss: 0.55, Accuracy: 0.84}, SamplesPerSec: 1300, LearningRate: 0.025, Workers: 3, Attempts: 2},
		}},
		{Name: "reg", Task: TaskRegression, Epochs: []HistoryRow{
			{Epoch: 1, ElapsedSeconds: 0.1, TrainLoss: 0.2, Test: &SetScores{Loss: 0.1, RMSE: 0.45, MAE: 0.3, R2: 0.9}, SamplesPerSec: 9e4, LearningRate: 0.1, Attempts: 1},
		}},
	}
	for _, h := range tests {
		dir := t.TempDir()
		if err := h.Save(dir); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"history.csv", "history.json"} {
			got, err := ReadHistory(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("%s %s: %v", h.Name, f, err)
			}
			if f == "history.csv" {
				got.Name = h.Name // CSV has no name: the directory's stands in
			}
			if !reflect.DeepEqual(*got, h) {
				t.Errorf("%s %s: got %+v want %+v", h.Name, f, *got, h)
			}
		}
	}
}

func TestHistoryCSVColumns(t *testing.T) {
	h := History{Task: TaskRegression, Epochs: []HistoryRow{{Epoch: 1, TrainLoss: 0.5, Test: &SetScores{Loss: 0.25, RMSE: 0.5, MAE: 0.4, R2: 0.75}, Attempts: 1}}}
	var b bytes.Buffer
	if err := h.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "epoch,elapsed_seconds,train_loss,val_loss,val_rmse,val_mae,val_r2,test_loss,test_rmse,test_mae,test_r2,samples_per_sec,learning_rate,workers,attempts\n" +
		"1,0,0.5,,,,,0.25,0.5,0.4,0.75,0,0,0,1\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestReadHistoryRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ file, body string }{
		{"a.csv", "epoch,colour\n1,red\n"},
		{"b.csv", "epoch,train_loss\n1,lots\n"},
		{"c.json", `{"name": "x", "task": "clustering", "epochs": []}`},
		{"d.json", `{"name": "x", "task": "regression", "epochs": [], "extra": 1}`},
		{"nan.csv", "epoch,train_loss\n1,NaN\n"},
		{"huge-epoch.csv", "epoch,train_loss\n1e300,0.5\n"},
		{"fractional-epoch.csv", "epoch,train_loss\n1.7,0.5\n"},
		{"zero-epoch.csv", "epoch,train_loss\n0,0.5\n"},
		{"no-epoch.csv", "epoch,train_loss\n,0.5\n"},
		{"half-worker.csv", "epoch,workers\n1,1.5\n"},
		{"zero-epoch.json", `{"name": "x", "task": "regression", "epochs": [{"epoch": 0}]}`},
		{"negative-attempts.json", `{"name": "x", "task": "regression", "epochs": [{"epoch": 1, "attempts": -1}]}`},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, tc.file)
		if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadHistory(p); !errors.Is(err, ErrHistory) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: got %v, want ErrHistory naming the file", tc.file, err)
		}
	}
}

// TestRunKeepsHistory: the engine writes its history after every epoch.
func TestRunKeepsHistory(t *testing.T) {
	res, spec := runSpec[float32](t, `
name: xorh
dataset: {name: xor, samples: 200, validation: 0.25}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: sgd, learning_rate: 0.2}, schedule: {kind: cosine}, batch_size: 16, epochs: 4, seed: 1}`)
	h, err := ReadHistory(spec.Output.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "xorh" || h.Task != TaskClassification || len(h.Epochs) != res.Epochs || res.Epochs != 4 {
		t.Fatalf("history %s/%s of %d epochs, run of %d", h.Name, h.Task, len(h.Epochs), res.Epochs)
	}
	for i, r := range h.Epochs {
		if r.Epoch != i+1 || r.Val == nil || r.Test == nil || r.LearningRate <= 0 || r.Attempts != 1 || r.TrainLoss != res.History[i].TrainLoss {
			t.Errorf("epoch %d: %+v", i+1, r)
		}
		if i > 0 && r.LearningRate >= h.Epochs[i-1].LearningRate {
			t.Errorf("cosine schedule: rate %v after %v", r.LearningRate, h.Epochs[i-1].LearningRate)
		}
	}
}
