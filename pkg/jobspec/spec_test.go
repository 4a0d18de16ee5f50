package jobspec

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const valid = `
name: t
dataset: {name: xor, samples: 100}
model:
  layers:
    - {units: 4, activation: tanh, dropout: 0.1}
    - {units: 2, activation: softmax}
training:
  optimizer: {kind: adam, learning_rate: 0.01}
  batch_size: 8
  epochs: 3
`

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		got   any
		want  any
	}{
		{"model.cost", s.Model.Cost, "categorical_cross_entropy"},
		{"model.init", s.Model.Init, "gaussian"},
		{"optimizer.beta2", s.Training.Optimizer.Beta2, 0.999},
		{"schedule.kind", s.Training.Schedule.Kind, "constant"},
		{"precision", s.Training.Precision, "float32"},
		{"output.dir", s.Output.Dir, "runs/t"},
		{"dataset.test_samples", s.Dataset.TestSamples, 25},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v want %v", tc.field, tc.got, tc.want)
		}
	}
	// A spec with its defaults filled in is itself a valid spec: its yaml
	// tags and defaults round-trip.
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of marshalled spec: %v", err)
	}
	if again.Training.Optimizer != s.Training.Optimizer || again.Model.Cost != s.Model.Cost {
		t.Errorf("marshal round trip changed the spec: %+v vs %+v", again.Training, s.Training)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(string) string
		wantField string
	}{
		{"unknown key", func(s string) string { return s + "bogus: 1\n" }, "bogus"},
		{"unknown nested key", func(s string) string {
			return strings.Replace(s, "batch_size: 8", "batch_size: 8\n  batchsize: 9", 1)
		}, "batchsize"},
		{"wrong type", func(s string) string { return strings.Replace(s, "epochs: 3", "epochs: three", 1) }, "three"},
		{"negative rate", func(s string) string { return strings.Replace(s, "learning_rate: 0.01", "learning_rate: -1", 1) }, "training.optimizer.learning_rate"},
		{"dropout 1", func(s string) string { return strings.Replace(s, "dropout: 0.1", "dropout: 1", 1) }, "model.layers[0].dropout"},
		{"bad activation", func(s string) string { return strings.Replace(s, "tanh", "swish", 1) }, "model.layers[0].activation"},
		{"softmax hidden", func(s string) string { return strings.Replace(s, "tanh", "softmax", 1) }, "model.layers[0].activation"},
		{"cost mismatch", func(s string) string {
			return strings.Replace(s, "layers:", "cost: cross_entropy\n  layers:", 1)
		}, "model.cost"},
		{"momentum 1", func(s string) string { return strings.Replace(s, "kind: adam", "kind: momentum, momentum: 1", 1) }, "training.optimizer.momentum: must be in [0, 1)"},
		{"unknown optimizer", func(s string) string { return strings.Replace(s, "kind: adam", "kind: adamw", 1) }, `training.optimizer.kind: unknown "adamw"`},
		{"one-unit softmax", func(s string) string {
			return strings.Replace(s, "units: 2, activation: softmax", "units: 1, activation: softmax", 1)
		}, "model.layers[1].units"},
		{"zero batch", func(s string) string { return strings.Replace(s, "batch_size: 8", "batch_size: -2", 1) }, "training.batch_size"},
		{"unknown dataset", func(s string) string { return strings.Replace(s, "name: xor", "name: cifar", 1) }, "dataset.name"},
		{"unknown normalization", func(s string) string { return strings.Replace(s, "name: xor", "name: xor, normalize: zscore", 1) }, `dataset.normalize: "zscore" is not one of none, standard, minmax`},
		{"patience without validation", func(s string) string { return s + "  early_stopping: {patience: 3}\n" }, "training.early_stopping.patience"},
		{"two documents", func(s string) string { return s + "---\nname: x\n" }, "one document"},
		// NaN passes every comparison: each check is written so that it fails.
		{"NaN rate", func(s string) string { return strings.Replace(s, "learning_rate: 0.01", "learning_rate: .nan", 1) }, "training.optimizer.learning_rate: NaN"},
		{"infinite rate", func(s string) string { return strings.Replace(s, "learning_rate: 0.01", "learning_rate: .inf", 1) }, "training.optimizer.learning_rate: +Inf"},
		{"NaN validation", func(s string) string { return strings.Replace(s, "samples: 100", "samples: 100, validation: .nan", 1) }, "dataset.validation: NaN"},
		{"NaN target", func(s string) string { return s + "  target_accuracy: .nan\n" }, "training.target_accuracy: NaN"},
		{"NaN l1", func(s string) string { return s + "  l1: .nan\n" }, "training.l1: NaN"},
		{"infinite l2", func(s string) string { return s + "  l2: .inf\n" }, "training.l2: +Inf"},
		{"NaN warmup", func(s string) string { return s + "  schedule: {kind: cosine, warmup_epochs: .nan}\n" }, "training.schedule.warmup_epochs: NaN"},
		{"NaN gamma", func(s string) string { return s + "  schedule: {kind: step, step_every: 1, gamma: .nan}\n" }, "training.schedule.gamma: NaN"},
		{"NaN min_lr", func(s string) string { return s + "  schedule: {kind: cosine, min_lr: .nan}\n" }, "training.schedule.min_lr: NaN"},
		{"NaN momentum", func(s string) string { return strings.Replace(s, "kind: adam", "kind: momentum, momentum: .nan", 1) }, "training.optimizer.momentum"},
		{"NaN rotate", func(s string) string { return s + "  augment: {rotate: .nan}\n" }, "training.augment.rotate: NaN"},
		{"too many epochs", func(s string) string { return strings.Replace(s, "epochs: 3", "epochs: 3000000000", 1) }, "training.epochs: 3000000000 not in [1, 1000000]"},
		{"too many samples", func(s string) string { return strings.Replace(s, "samples: 100", "samples: 1000000000000", 1) }, "dataset.samples"},
		// Its parameters would overflow a slice's length: refused at
		// submission rather than crashing whatever builds the network.
		{"too wide a model", func(s string) string { return strings.Replace(s, "units: 4,", "units: 1000000000000000,", 1) }, "model.layers: more than 2147483647 weights and biases"},
		{"empty", func(string) string { return "" }, "empty"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.edit(valid)))
		if err == nil {
			t.Errorf("%s: got nil error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantField) {
			t.Errorf("%s: error %q does not name %q", tc.name, err, tc.wantField)
		}
	}
}

// Every problem is named at once, the model's and the optimiser's too,
// each by its path in the spec.
func TestParseNamesEveryProblem(t *testing.T) {
	bad := strings.NewReplacer("tanh", "swish", "dropout: 0.1", "dropout: 2", "kind: adam", "kind: adam, beta1: 1", "batch_size: 8", "batch_size: -2").Replace(valid)
	_, err := Parse([]byte(bad))
	for _, field := range []string{"model.layers[0].activation", "model.layers[0].dropout", "training.optimizer.beta1", "training.batch_size"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

func TestCheckData(t *testing.T) {
	s, err := Parse([]byte(strings.Replace(valid, "layers:", "inputs: 2\n  layers:", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		shape     DataShape
		augment   Augment
		wantField string
	}{
		{"fits", DataShape{Features: 2, Outputs: 2}, Augment{}, ""},
		{"input width", DataShape{Features: 3, Outputs: 2}, Augment{}, "model.inputs"},
		{"classes", DataShape{Features: 2, Outputs: 10}, Augment{}, "model.layers[1].units"},
		{"augment non-image", DataShape{Features: 2, Outputs: 2}, Augment{Flip: true}, "training.augment"},
		{"augment image", DataShape{Features: 2, Outputs: 2, Image: true}, Augment{Shift: 2}, ""},
	}
	for _, tc := range tests {
		s.Training.Augment = tc.augment
		err := s.CheckData(tc.shape)
		switch {
		case tc.wantField == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantField != "" && (err == nil || !strings.Contains(err.Error(), tc.wantField)):
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.wantField)
		}
	}
}

func TestExamplesParse(t *testing.T) {
	for _, f := range []string{"../../examples/fashion-mnist.yaml", "../../examples/fashion-mnist-fast.yaml", "../../examples/xor.yaml"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("example missing: %v", err)
		}
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
