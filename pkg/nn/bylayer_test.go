package nn

import (
	"math"
	"slices"
	"testing"
)

// layerLog is a LayerSink that checks, as each call comes, that it is in
// order and that the reported range already holds its final bits (want).
type layerLog[T Float] struct {
	t     *testing.T
	grads []T // the buffer being filled
	want  []T // the final gradient, from Gradients
	cost  float64
	costs int      // CostReady calls
	spans [][2]int // LayerReady ranges, in call order
}

func (s *layerLog[T]) CostReady(cost float64) {
	if len(s.spans) != 0 {
		s.t.Errorf("CostReady after %d LayerReady calls, want before any", len(s.spans))
	}
	s.cost, s.costs = cost, s.costs+1
}

func (s *layerLog[T]) LayerReady(lo, hi int) {
	s.spans = append(s.spans, [2]int{lo, hi})
	if s.want != nil && !sameBits(s.grads[lo:hi], s.want[lo:hi]) {
		s.t.Errorf("LayerReady(%d, %d): the range is not final yet", lo, hi)
	}
}

func sameBits[T Float](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return math.Float64bits(float64(x)) == math.Float64bits(float64(y)) })
}

// TestGradientsByLayer checks that GradientsByLayer gives the bits of
// Gradients, penalties and dropout included, and reports every layer once,
// last first, each range final when reported and the ranges tiling the
// buffer from its end.
func TestGradientsByLayer(t *testing.T) {
	deep := Architecture{Inputs: 7, Cost: MSE, Layers: []Layer{
		{Units: 9, Activation: Tanh, Dropout: 0.5}, {Units: 1, Activation: Sigmoid},
		{Units: 6, Activation: LeakyReLU}, {Units: 3, Activation: Identity}}}
	one := Architecture{Inputs: 4, Layers: []Layer{{Units: 2, Activation: Sigmoid}}, Cost: CrossEntropy}
	tests := []struct {
		name string
		arch Architecture
		rows int
		reg  Regularization
	}{
		{"dropout L1+L2", subBatchArch, 33, Regularization{L1: 1e-3, L2: 1e-2, N: 600}},
		{"dropout L2", subBatchArch, 8, Regularization{L2: 0.5, N: 10}},
		{"dropout L1", subBatchArch, 1, Regularization{L1: 0.5, N: 10}},
		{"no penalty", subBatchArch, 16, Regularization{}},
		{"empty batch L1+L2", subBatchArch, 0, Regularization{L1: 1e-3, L2: 1e-2, N: 600}},
		{"deep L1+L2", deep, 5, Regularization{L1: 0.1, L2: 0.2, N: 50}},
		{"one layer L1+L2", one, 3, Regularization{L1: 0.1, L2: 0.2, N: 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/float32", func(t *testing.T) { checkByLayer[float32](t, tc.arch, tc.rows, tc.reg) })
		t.Run(tc.name+"/float64", func(t *testing.T) { checkByLayer[float64](t, tc.arch, tc.rows, tc.reg) })
	}
}

func checkByLayer[T Float](t *testing.T, a Architecture, rows int, reg Regularization) {
	n := newNet[T](t, a, 3)
	b := randomBatch[T](a, rows, 4)
	ws := NewWorkspace[T](a, max(rows, 1))
	r := &Randomness{Seed: 5, Epoch: 2}
	want := make([]T, n.NumParams())
	wantCost := n.Gradients(ws, b, want, reg, r)

	got := make([]T, n.NumParams())
	for i := range got {
		got[i] = T(math.NaN()) // stale bits must not survive
	}
	sink := &layerLog[T]{t: t, grads: got, want: want}
	cost := n.GradientsByLayer(ws, b, got, reg, r, sink)
	if math.Float64bits(cost) != math.Float64bits(wantCost) {
		t.Errorf("cost got %v want %v (Gradients)", cost, wantCost)
	}
	if sink.costs != 1 || sink.cost != cost {
		t.Errorf("CostReady: %d calls with %v, want 1 with %v", sink.costs, sink.cost, cost)
	}
	if !sameBits(got, want) {
		t.Errorf("gradient differs from Gradients'")
	}
	off := a.ParamOffsets()
	var spans [][2]int
	for i := len(a.Layers) - 1; i >= 0; i-- {
		spans = append(spans, [2]int{off[i], off[i+1]})
	}
	if !slices.Equal(sink.spans, spans) {
		t.Errorf("LayerReady calls got %v want %v", sink.spans, spans)
	}
}

// TestGradientsByLayerAllocs checks that the layer-by-layer step allocates
// nothing either.
func TestGradientsByLayerAllocs(t *testing.T) {
	a := subBatchArch
	n := newNet[float32](t, a, 1)
	b := randomBatch[float32](a, 64, 2)
	ws := NewWorkspace[float32](a, 64)
	g := make([]float32, n.NumParams())
	reg := Regularization{L1: 1e-4, L2: 1e-3, N: 1000}
	r := &Randomness{Seed: 1}
	sink := &layerLog[float32]{t: t, grads: g, spans: make([][2]int, 0, 64)}
	allocs := testing.AllocsPerRun(5, func() {
		sink.spans = sink.spans[:0]
		n.GradientsByLayer(ws, b, g, reg, r, sink)
	})
	if allocs != 0 {
		t.Errorf("GradientsByLayer: %v allocations per call, want 0", allocs)
	}
}

// TestParamOffsets checks the layer offsets against the layout New uses.
func TestParamOffsets(t *testing.T) {
	tests := []struct {
		inputs int
		units  []int
		want   []int
	}{
		{784, []int{256, 128, 10}, []int{0, 200960, 233856, 235146}},
		{2, []int{3}, []int{0, 9}},
		{4, []int{1, 1, 2}, []int{0, 5, 7, 11}},
	}
	for i, tc := range tests {
		a := Architecture{Inputs: tc.inputs, Cost: MSE}
		for _, u := range tc.units {
			a.Layers = append(a.Layers, Layer{Units: u, Activation: Identity})
		}
		got := a.ParamOffsets()
		if !slices.Equal(got, tc.want) {
			t.Errorf("test %d: got %v want %v", i, got, tc.want)
		}
		n := newNet[float32](t, a, 1)
		for j, l := range n.layers {
			if l.w != got[j] || l.b+l.out != got[j+1] {
				t.Errorf("test %d layer %d: network holds [%d, %d), offsets say [%d, %d)", i, j, l.w, l.b+l.out, got[j], got[j+1])
			}
		}
		if last := got[len(got)-1]; last != a.NumParams() {
			t.Errorf("test %d: last offset %d, NumParams %d", i, last, a.NumParams())
		}
	}
}
