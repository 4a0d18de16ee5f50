package train

import (
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
