package nn

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestExtremeInputs drives the output layer to z = ±1000 and checks that
// costs and gradients stay finite and the costs are what the limits say.
func TestExtremeInputs(t *testing.T) {
	tests := []struct {
		out  Activation
		cost Cost
		z    [2]float64 // output pre-activations
		y    [2]float64
		want float64 // cost of the row
	}{
		{Softmax, CategoricalCrossEntropy, [2]float64{1000, -1000}, [2]float64{0, 1}, 2000},
		{Softmax, CategoricalCrossEntropy, [2]float64{1000, -1000}, [2]float64{1, 0}, 0},
		{Softmax, CategoricalCrossEntropy, [2]float64{-1000, -1000}, [2]float64{1, 0}, math.Ln2},
		{Sigmoid, CrossEntropy, [2]float64{1000, -1000}, [2]float64{0, 1}, 2000},
		{Sigmoid, CrossEntropy, [2]float64{1000, -1000}, [2]float64{1, 0}, 0},
		{Sigmoid, MSE, [2]float64{1000, -1000}, [2]float64{0, 1}, 1},
		{Softmax, MSE, [2]float64{1000, -1000}, [2]float64{0, 1}, 1},
		{Tanh, MSE, [2]float64{1000, -1000}, [2]float64{0, 0}, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%s-%v-float32", tc.out, tc.cost, tc.y), func(t *testing.T) { checkExtreme[float32](t, tc.out, tc.cost, tc.z, tc.y, tc.want, 1e-4) })
		t.Run(fmt.Sprintf("%s-%s-%v-float64", tc.out, tc.cost, tc.y), func(t *testing.T) { checkExtreme[float64](t, tc.out, tc.cost, tc.z, tc.y, tc.want, 1e-12) })
	}
}

func checkExtreme[T Float](t *testing.T, out Activation, cost Cost, z, y [2]float64, want, tol float64) {
	a := Architecture{Inputs: 2, Layers: []Layer{{Units: 2, Activation: ReLU}, {Units: 2, Activation: out}}, Cost: cost}
	n := newNet[T](t, a, 1)
	p := n.Params()
	// Hidden layer passes the input through (x ≥ 0); the output layer
	// maps it to z with weights ±1000.
	copy(p, []T{1, 0, 0, 1, 0, 0, T(z[0]), 0, 0, T(z[1]), 0, 0})
	b := Batch[T]{X: []T{1, 1}, Y: []T{T(y[0]), T(y[1])}}
	ws := NewWorkspace[T](a, 1)
	g := make([]T, n.NumParams())
	got := n.Gradients(ws, b, g, Regularization{}, nil)
	if math.IsNaN(got) || math.IsInf(got, 0) || math.Abs(got-want) > tol*(1+want) {
		t.Errorf("cost got %v want %v", got, want)
	}
	for i, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Errorf("gradient %d is %v", i, v)
		}
	}
	for i, v := range n.Forward(ws, b.X, 1) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Errorf("output %d is %v", i, v)
		}
	}
}

// subBatchArch is a network with dropout in both hidden layers.
var subBatchArch = Architecture{
	Inputs: 20,
	Layers: []Layer{
		{Units: 32, Activation: ReLU, Dropout: 0.3},
		{Units: 16, Activation: Tanh, Dropout: 0.2},
		{Units: 5, Activation: Softmax},
	},
	Cost: CategoricalCrossEntropy,
	Init: He,
}

// TestSubBatchEquivalence checks the property distribution rests on: the
// gradient (and cost) of a batch of 128 is the size-weighted mean of those of
// its sub-batches, dropout and penalties included.
func TestSubBatchEquivalence(t *testing.T) {
	t.Run("float64", func(t *testing.T) { checkSubBatches[float64](t, 1e-12) })
	t.Run("float32", func(t *testing.T) { checkSubBatches[float32](t, 2e-5) })
}

func checkSubBatches[T Float](t *testing.T, tol float64) {
	const rows = 128
	a := subBatchArch
	n := newNet[T](t, a, 4)
	b := randomBatch[T](a, rows, 6)
	reg := Regularization{L1: 1e-3, L2: 1e-2, N: 60000}
	r := &Randomness{Seed: 77, Epoch: 3}
	ws := NewWorkspace[T](a, rows)
	full := make([]T, n.NumParams())
	fullCost := n.Gradients(ws, b, full, reg, r)
	scale := 0.0
	for _, v := range full {
		scale = max(scale, math.Abs(float64(v)))
	}

	for _, sizes := range [][]int{{32, 32, 32, 32}, {50, 30, 48}} {
		sum := make([]float64, len(full))
		var cost float64
		part := make([]T, len(full))
		from := 0
		for _, k := range sizes {
			// A worker's own, smaller workspace.
			c := n.Gradients(NewWorkspace[T](a, k), b.rows(from, from+k, a.Inputs, a.Outputs()), part, reg, r)
			w := float64(k) / rows
			cost += w * c
			for i, v := range part {
				sum[i] += w * float64(v)
			}
			from += k
		}
		worst := 0.0
		for i, v := range sum {
			worst = max(worst, math.Abs(v-float64(full[i])))
		}
		if worst > tol*scale {
			t.Errorf("sub-batches %v: gradient differs by %.3g (largest component %.3g), want ≤ %.3g", sizes, worst, scale, tol*scale)
		}
		if math.Abs(cost-fullCost) > tol*fullCost {
			t.Errorf("sub-batches %v: cost %v, whole batch %v", sizes, cost, fullCost)
		}
	}
	// Masks must matter, or the test proves nothing: another epoch's
	// masks give another gradient.
	other := make([]T, len(full))
	n.Gradients(ws, b, other, reg, &Randomness{Seed: 77, Epoch: 4})
	if slices.Equal(other, full) {
		t.Errorf("changing the epoch did not change the dropout masks")
	}
}

// TestDeterminism trains twice from the same seed and compares the bytes of
// the parameters.
func TestDeterminism(t *testing.T) {
	run := func(seed uint64) []byte {
		a := subBatchArch
		n := newNet[float32](t, a, seed)
		ws := NewWorkspace[float32](a, 32)
		g := make([]float32, n.NumParams())
		b := randomBatch[float32](a, 64, seed)
		for epoch := range 3 {
			for from := 0; from < 64; from += 32 {
				n.Gradients(ws, b.rows(from, from+32, a.Inputs, a.Outputs()), g, Regularization{L2: 0.1, N: 64}, &Randomness{Seed: seed, Epoch: epoch})
				for i := range g {
					n.Params()[i] -= 0.1 * g[i]
				}
			}
		}
		p := n.Params()
		return slices.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&p[0])), 4*len(p)))
	}
	first, second, other := run(5), run(5), run(6)
	if !slices.Equal(first, second) {
		t.Errorf("two runs from seed 5 gave different parameters")
	}
	if slices.Equal(first, other) {
		t.Errorf("seeds 5 and 6 gave the same parameters")
	}
}

// TestDropoutRate checks that masks drop the requested share of units and
// that inverted dropout keeps the mean activation.
func TestDropoutRate(t *testing.T) {
	for _, rate := range []float64{0.1, 0.5, 0.9} {
		const rows, units = 200, 500
		a := make([]float64, rows*units)
		d := make([]float64, rows*units)
		for i := range a {
			a[i], d[i] = 1, 1
		}
		index := make([]int, rows)
		for i := range index {
			index[i] = i
		}
		ws := NewWorkspace[float64](subBatchArch, 1)
		dropout(ws.src, &Randomness{Seed: 1}, index, 0, a, d, units, rate)
		dropped, sum := 0, 0.0
		for i, v := range a {
			if v == 0 {
				dropped++
			}
			if d[i] != v {
				t.Fatalf("rate %v: activation %v but derivative factor %v", rate, v, d[i])
			}
			sum += v
		}
		n := float64(rows * units)
		if got := float64(dropped) / n; math.Abs(got-rate) > 4*math.Sqrt(rate*(1-rate)/n) {
			t.Errorf("rate %v: dropped %.4f of units", rate, got)
		}
		if mean := sum / n; math.Abs(mean-1) > 4*math.Sqrt(rate/(1-rate)/n) {
			t.Errorf("rate %v: mean activation %.4f, want 1", rate, mean)
		}
	}
}

// TestNoAllocations checks that a training step and inference allocate
// nothing, on one core and with the parallel GEMM.
func TestNoAllocations(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			t.Run("float32", func(t *testing.T) { checkAllocs[float32](t) })
			t.Run("float64", func(t *testing.T) { checkAllocs[float64](t) })
		})
	}
}

func checkAllocs[T Float](t *testing.T) {
	a := Architecture{
		Inputs: 300,
		Layers: []Layer{
			{Units: 200, Activation: ReLU, Dropout: 0.2},
			{Units: 100, Activation: Sigmoid, Dropout: 0.1},
			{Units: 10, Activation: Softmax},
		},
		Cost: CategoricalCrossEntropy,
	}
	n := newNet[T](t, a, 1)
	b := randomBatch[T](a, 128, 2)
	ws := NewWorkspace[T](a, 128)
	g := make([]T, n.NumParams())
	reg := Regularization{L1: 1e-4, L2: 1e-3, N: 1000}
	r := &Randomness{Seed: 1}
	if allocs := testing.AllocsPerRun(5, func() { n.Gradients(ws, b, g, reg, r) }); allocs != 0 {
		t.Errorf("Gradients: %v allocations per call, want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(5, func() { n.Forward(ws, b.X, 128) }); allocs != 0 {
		t.Errorf("Forward: %v allocations per call, want 0", allocs)
	}
}

// TestShapePanics checks that misuse panics with a message that says what is
// wrong.
func TestShapePanics(t *testing.T) {
	a := subBatchArch
	n := newNet[float64](t, a, 1)
	b := randomBatch[float64](a, 8, 1)
	g := make([]float64, n.NumParams())
	other := a
	other.Layers = []Layer{{Units: 3, Activation: Softmax}}
	tests := []struct {
		name, want string
		f          func()
	}{
		{"short grads", "len(grads)", func() { n.Gradients(NewWorkspace[float64](a, 8), b, g[1:], Regularization{}, nil) }},
		{"ragged X", "not a multiple", func() {
			n.Gradients(NewWorkspace[float64](a, 8), Batch[float64]{X: b.X[1:], Y: b.Y}, g, Regularization{}, nil)
		}},
		{"short Y", "len(Y)", func() {
			n.Gradients(NewWorkspace[float64](a, 8), Batch[float64]{X: b.X, Y: b.Y[1:]}, g, Regularization{}, nil)
		}},
		{"negative rows", "-1 rows", func() { n.Forward(NewWorkspace[float64](a, 8), b.X, -1) }},
		{"no index", "index per row", func() {
			n.Gradients(NewWorkspace[float64](a, 8), Batch[float64]{X: b.X, Y: b.Y}, g, Regularization{}, &Randomness{})
		}},
		{"no N", "training set size", func() { n.Gradients(NewWorkspace[float64](a, 8), b, g, Regularization{L2: 1}, nil) }},
		{"small workspace", "workspace holds up to 4", func() { n.Gradients(NewWorkspace[float64](a, 4), b, g, Regularization{}, nil) }},
		{"other workspace", "another architecture", func() { n.Forward(NewWorkspace[float64](other, 8), b.X, 8) }},
		{"short x", "len(x)", func() { n.Forward(NewWorkspace[float64](a, 8), b.X[:20], 8) }},
	}
	for _, tc := range tests {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, tc.want) {
					t.Errorf("%s: panic %q, want one containing %q", tc.name, msg, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

// TestEmptyBatch checks that a worker with no rows of a batch contributes a
// zero data gradient, and that inference on no rows is empty, not a panic.
func TestEmptyBatch(t *testing.T) {
	a := subBatchArch
	n := newNet[float64](t, a, 1)
	ws := NewWorkspace[float64](a, 4)
	g := make([]float64, n.NumParams())
	for i := range g {
		g[i] = 1
	}
	reg := Regularization{L2: 2, N: 10}
	cost := n.Gradients(ws, Batch[float64]{}, g, reg, &Randomness{})
	var want float64
	for i, l := range n.layers {
		for j, w := range n.Params()[l.w:l.b] {
			want += 0.1 * w * w // λ/(2N)·w²
			if g[l.w+j] != 0.2*w {
				t.Fatalf("layer %d weight %d: gradient %v want %v", i, j, g[l.w+j], 0.2*w)
			}
		}
		for j, v := range g[l.b : l.b+l.out] {
			if v != 0 {
				t.Fatalf("layer %d bias %d: gradient %v want 0", i, j, v)
			}
		}
	}
	if math.Abs(cost-want) > 1e-12*want {
		t.Errorf("cost %v want %v", cost, want)
	}
	if out := n.Forward(ws, nil, 0); len(out) != 0 {
		t.Errorf("Forward on no rows returned %d values", len(out))
	}
}
