package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
)

// nop discards progress.
type nop struct{}

func (nop) Step(StepProgress) {}
func (nop) Epoch(EpochReport) {}

func mustSpec(t *testing.T, doc string) *jobspec.Spec {
	t.Helper()
	s, err := jobspec.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	s.Output.Dir = t.TempDir()
	return s
}

func runSpec[T float32 | float64](t *testing.T, doc string) (*Result, *jobspec.Spec) {
	t.Helper()
	spec := mustSpec(t, doc)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run[T](context.Background(), spec, sets, nop{})
	if err != nil {
		t.Fatal(err)
	}
	return res, spec
}

func TestLearnsSyntheticTasks(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		minAcc  float64 // on the training set
		maxLoss float64 // for regression, on the test set
	}{
		{"xor", `
dataset: {name: xor, samples: 200}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: momentum, learning_rate: 0.1}, batch_size: 16, epochs: 40, seed: 3}`, 1.0, 0},
		{"xor sigmoid cross-entropy", `
dataset: {name: xor, samples: 200}
model: {layers: [{units: 8, activation: sigmoid}, {units: 2, activation: sigmoid}], cost: cross_entropy}
training: {optimizer: {kind: adam, learning_rate: 0.05}, batch_size: 16, epochs: 60, seed: 3}`, 1.0, 0},
		{"spirals", `
dataset: {name: spirals, samples: 1000}
model: {layers: [{units: 64, activation: relu}, {units: 64, activation: relu}, {units: 2, activation: softmax}], init: he}
training: {optimizer: {kind: adam, learning_rate: 0.01}, schedule: {kind: cosine}, batch_size: 32, epochs: 150, seed: 1}`, 0.98, 0},
		{"regression curve", `
dataset: {name: curve, samples: 500}
model: {layers: [{units: 32, activation: tanh}, {units: 1, activation: identity}], cost: mse}
training: {optimizer: {kind: adam, learning_rate: 0.01}, batch_size: 16, epochs: 100, seed: 2}`, 0, 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, spec := runSpec[float32](t, tc.doc)
			m, err := checkpoint.LoadModel[float32](res.ModelPath)
			if err != nil {
				t.Fatal(err)
			}
			sets, err := LoadData(spec)
			if err != nil {
				t.Fatal(err)
			}
			net := loadNet(t, m)
			ev := NewEvaluator(net, sets)
			if tc.minAcc > 0 {
				if got := ev.Run(sets.Train).Accuracy; got < tc.minAcc {
					t.Errorf("training accuracy %.4f, want >= %.4f", got, tc.minAcc)
				}
			}
			if tc.maxLoss > 0 {
				if got := ev.Run(sets.Test).Loss; got > tc.maxLoss {
					t.Errorf("test MSE %.5f, want <= %.5f", got, tc.maxLoss)
				}
			}
		})
	}
}

const determinismDoc = `
dataset: {name: spirals, samples: 300}
model: {layers: [{units: 16, activation: relu, dropout: 0.3}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: adam, learning_rate: 0.01}, batch_size: 20, epochs: 3, l2: 0.1, seed: 11}`

func TestSameSeedSameBytes(t *testing.T) {
	var models [][]byte
	for range 2 {
		res, _ := runSpec[float32](t, determinismDoc)
		b, err := os.ReadFile(res.ModelPath)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, b)
	}
	if !bytes.Equal(models[0], models[1]) {
		t.Fatal("two runs with the same seed wrote different model bytes")
	}
	res, _ := runSpec[float32](t, strings.Replace(determinismDoc, "seed: 11", "seed: 12", 1))
	other, err := os.ReadFile(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(models[0], other) {
		t.Fatal("another seed wrote the same model bytes")
	}
}

func TestDivergenceStopsWithoutWritingAModel(t *testing.T) {
	spec := mustSpec(t, `
dataset: {name: curve, samples: 200}
model: {layers: [{units: 16, activation: relu}, {units: 1, activation: identity}], cost: mse}
training: {optimizer: {kind: sgd, learning_rate: 1e30}, batch_size: 10, epochs: 5}`)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run[float32](context.Background(), spec, sets, nop{})
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "step") {
		t.Fatalf("got %v, want ErrDiverged naming the step", err)
	}
	if _, err := os.Stat(filepath.Join(spec.Output.Dir, "model.safetensors")); !os.IsNotExist(err) {
		t.Errorf("a diverged run left a model file (stat: %v)", err)
	}
}

func TestCancelSavesModel(t *testing.T) {
	spec := mustSpec(t, determinismDoc)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	obs := cancelAfter{n: 5, cancel: cancel}
	res, err := Run[float32](ctx, spec, sets, &obs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != "interrupted" {
		t.Errorf("stopped %q, want interrupted", res.Stopped)
	}
	m, err := checkpoint.LoadModel[float32](res.ModelPath)
	if err != nil {
		t.Fatalf("interrupted run saved no readable model: %v", err)
	}
	// Five steps were taken: the saved parameters are not the initial ones.
	fresh, err := NewReplica[float32](spec, ShapeOf(sets.Train), sets.Train.Len(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(m.Params, fresh.Net.Params()) {
		t.Error("interrupted run saved the initial parameters, not what it learned")
	}
}

type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Step(StepProgress) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
}
func (c *cancelAfter) Epoch(EpochReport) {}

func TestEarlyStopping(t *testing.T) {
	res, _ := runSpec[float32](t, `
dataset: {name: xor, samples: 200, validation: 0.25}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: adam, learning_rate: 0.05}, batch_size: 16, epochs: 200, early_stopping: {patience: 3}, seed: 5}`)
	if res.Epochs >= 200 || !strings.HasPrefix(res.Stopped, "early stopping") {
		t.Errorf("ran %d epochs, stopped %q; want early stopping", res.Epochs, res.Stopped)
	}
	if res.SavedEpoch != res.Epochs-3 {
		t.Errorf("saved epoch %d, want the best epoch %d (3 before the last)", res.SavedEpoch, res.Epochs-3)
	}
}

func TestFloat64Run(t *testing.T) {
	res, _ := runSpec[float64](t, strings.Replace(determinismDoc, "seed: 11", "seed: 11, precision: float64", 1))
	m, err := checkpoint.LoadModel[float64](res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Params) != m.Arch.NumParams() {
		t.Errorf("float64 model has %d params want %d", len(m.Params), m.Arch.NumParams())
	}
}

// A batch_size beyond the training set is one batch of the whole set: the
// replica's buffers are the set's size, not the spec's (1<<40 rows would
// not fit in memory), and the job trains.
func TestBatchLargerThanTheSet(t *testing.T) {
	const doc = `
dataset: {name: xor, samples: 64}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: sgd, learning_rate: 0.1}, batch_size: 1099511627776, epochs: 2, seed: 1}`
	spec := mustSpec(t, doc)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := NewReplica[float32](spec, ShapeOf(sets.Train), sets.Train.Len(), spec.Training.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.index), sets.Train.Len(); got != want {
		t.Fatalf("replica holds %d rows, want the training set's %d", got, want)
	}
	res, _ := runSpec[float32](t, doc)
	if len(res.History) != 2 {
		t.Fatalf("trained %d epochs, want 2", len(res.History))
	}
}
