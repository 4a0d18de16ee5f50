package train

import (
	"math"
	"slices"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/nn"
)

// spanLog records what a LayerSink is told.
type spanLog struct {
	cost  float64
	spans [][2]int
}

func (s *spanLog) CostReady(cost float64) { s.cost = cost }
func (s *spanLog) LayerReady(lo, hi int)  { s.spans = append(s.spans, [2]int{lo, hi}) }

// TestGradientsByLayerMatchesGradients checks that a replica's layer-by-layer
// gradient is Gradients' to the bit, dropout and penalties included, also
// for a member with no samples, and that every layer is reported.
func TestGradientsByLayerMatchesGradients(t *testing.T) {
	const doc = `
dataset: {name: spirals, samples: 300}
model: {layers: [{units: 16, activation: relu, dropout: 0.25}, {units: 8, activation: tanh, dropout: 0.1}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: adam, learning_rate: 0.01}, batch_size: 32, epochs: 1, seed: 7, l1: 0.001, l2: 0.01}`
	tests := []struct {
		name string
		idx  []int
	}{
		{"batch", []int{5, 17, 3, 250, 99, 42, 0, 1, 2, 7, 8, 9}},
		{"one row", []int{123}},
		{"no samples", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/float32", func(t *testing.T) { checkReplicaByLayer[float32](t, doc, tc.idx) })
		t.Run(tc.name+"/float64", func(t *testing.T) { checkReplicaByLayer[float64](t, doc, tc.idx) })
	}
}

func checkReplicaByLayer[T nn.Float](t *testing.T, doc string, idx []int) {
	spec := mustSpec(t, doc)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	ds := sets.Train
	rep, err := NewReplica[T](spec, ShapeOf(ds), ds.Len(), spec.Training.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	wantLoss := rep.Gradients(ds, idx, 3)
	want := slices.Clone(rep.Grads)
	for i := range rep.Grads {
		rep.Grads[i] = T(math.NaN())
	}
	var sink spanLog
	loss := rep.GradientsByLayer(ds, idx, 3, &sink)
	if math.Float64bits(loss) != math.Float64bits(wantLoss) || sink.cost != loss {
		t.Errorf("loss got %v (sink told %v) want %v", loss, sink.cost, wantLoss)
	}
	for i, g := range rep.Grads {
		if math.Float64bits(float64(g)) != math.Float64bits(float64(want[i])) {
			t.Fatalf("gradient %d: got %v want %v", i, g, want[i])
		}
	}
	off := rep.Net.Arch().ParamOffsets()
	if len(sink.spans) != len(off)-1 || sink.spans[0][1] != len(rep.Grads) || sink.spans[len(sink.spans)-1][0] != 0 {
		t.Errorf("layers reported %v, want %d layers from %d down to 0", sink.spans, len(off)-1, len(rep.Grads))
	}
}
