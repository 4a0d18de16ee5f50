package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDataValidationSplit(t *testing.T) {
	tests := []struct {
		validation string
		wantVal    int      // validation samples, when no error is wanted
		wantErr    []string // what the error must name
	}{
		{"0.25", 100, nil},
		{"0.0025", 1, nil},
		// round(0.001·400) = 0: an empty split would pin the model to epoch 1.
		{"0.001", 0, []string{"dataset.validation", "0.001", "400"}},
	}
	for i, tc := range tests {
		spec := mustSpec(t, `
dataset: {name: xor, samples: 400, validation: `+tc.validation+`}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: sgd, learning_rate: 0.1}, batch_size: 16, epochs: 1}`)
		sets, err := LoadData(spec)
		if tc.wantErr != nil {
			if err == nil {
				t.Errorf("test %d: validation %s: got no error, want one naming %q", i, tc.validation, tc.wantErr)
				continue
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("test %d: validation %s: got error %q, want it to name %q", i, tc.validation, err, want)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("test %d: validation %s: %v", i, tc.validation, err)
			continue
		}
		if got := sets.Val.Len(); got != tc.wantVal || sets.Train.Len() != 400-tc.wantVal {
			t.Errorf("test %d: validation %s: got %d validation and %d training samples, want %d and %d",
				i, tc.validation, got, sets.Train.Len(), tc.wantVal, 400-tc.wantVal)
		}
	}
}

// TestLoadDataTestClasses: a CSV test set need not hold the last class to
// be scored on all of them, but may hold no class the training set lacks.
func TestLoadDataTestClasses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train := write("train.csv", "0,0,0\n1,1,1\n2,2,0\n0,1,1\n")
	for _, tc := range []struct {
		test string
		want string // the error names it; "" for none
	}{
		{"0,0,1\n1,1,0\n", ""},
		{"3,0,1\n", "test set has label 3, the training set's labels are 0 to 2"},
	} {
		test := write("test.csv", tc.test)
		spec := mustSpec(t, `
dataset: {name: csv, train: {csv: `+train+`}, test: {csv: `+test+`}}
model: {layers: [{units: 4, activation: tanh}, {units: 3, activation: softmax}]}
training: {optimizer: {kind: sgd, learning_rate: 0.1}, batch_size: 2, epochs: 1}`)
		sets, err := LoadData(spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test set %q: %v", tc.test, err)
		case tc.want == "" && sets.Test.Classes != 3:
			t.Errorf("test set %q: %d classes, want the training set's 3", tc.test, sets.Test.Classes)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("test set %q: got %v, want an error naming %q", tc.test, err, tc.want)
		}
	}
}
