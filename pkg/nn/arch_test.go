package nn

import (
	"math"
	"strings"
	"testing"
)

// fits counts up to MaxParams exactly: one unit with 2³¹−2 inputs has
// 2³¹−1 weights and biases.
func TestFits(t *testing.T) {
	for _, tc := range []struct {
		inputs, units int
		want          bool
	}{
		{MaxParams - 1, 1, true},
		{MaxParams, 1, false},
		{1, MaxParams / 2, true},
		{1, MaxParams/2 + 1, false},
		{math.MaxInt, math.MaxInt, false},
	} {
		a := Architecture{Inputs: tc.inputs, Layers: []Layer{{Units: tc.units}}}
		if got := a.fits(); got != tc.want {
			t.Errorf("%d inputs, %d units: fits %v, want %v", tc.inputs, tc.units, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func() Architecture {
		return Architecture{
			Inputs: 4,
			Layers: []Layer{{Units: 8, Activation: ReLU, Dropout: 0.5}, {Units: 3, Activation: Softmax}},
			Cost:   CategoricalCrossEntropy,
		}
	}
	tests := []struct {
		name   string
		change func(*Architecture)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Architecture) {}, ""},
		{"he init", func(a *Architecture) { a.Init = He }, ""},
		{"mse on softmax", func(a *Architecture) { a.Cost = MSE }, ""},
		{"no inputs", func(a *Architecture) { a.Inputs = 0 }, "inputs: 0 must be at least 1"},
		{"no layers", func(a *Architecture) { a.Layers = nil }, "layers: none given"},
		{"no units", func(a *Architecture) { a.Layers[0].Units = 0 }, "layers[0].units: 0"},
		{"unknown activation", func(a *Architecture) { a.Layers[0].Activation = "swish" }, `layers[0].activation: "swish" unknown`},
		{"missing activation", func(a *Architecture) { a.Layers[0].Activation = "" }, `layers[0].activation: "" unknown`},
		{"hidden softmax", func(a *Architecture) { a.Layers[0].Activation = Softmax }, "layers[0].activation: softmax is for the output layer only"},
		{"one-unit softmax", func(a *Architecture) { a.Layers[1].Units = 1 }, "layers[1].units: softmax needs at least 2 units"},
		{"dropout too big", func(a *Architecture) { a.Layers[0].Dropout = 1.2 }, "layers[0].dropout: 1.2 not in [0,1)"},
		{"dropout one", func(a *Architecture) { a.Layers[0].Dropout = 1 }, "layers[0].dropout: 1 not in [0,1)"},
		{"dropout negative", func(a *Architecture) { a.Layers[0].Dropout = -0.1 }, "layers[0].dropout: -0.1 not in [0,1)"},
		{"dropout NaN", func(a *Architecture) { a.Layers[0].Dropout = math.NaN() }, "layers[0].dropout: NaN not in [0,1)"},
		{"output dropout", func(a *Architecture) { a.Layers[1].Dropout = 0.1 }, "layers[1].dropout: 0.1 on the output layer"},
		{"unknown cost", func(a *Architecture) { a.Cost = "hinge" }, `cost: "hinge" unknown`},
		{"ce on softmax", func(a *Architecture) { a.Cost = CrossEntropy }, "cost: cross_entropy needs a sigmoid output layer"},
		{"cce on sigmoid", func(a *Architecture) { a.Layers[1].Activation = Sigmoid }, "cost: categorical_cross_entropy needs a softmax output layer"},
		{"unknown init", func(a *Architecture) { a.Init = "lecun" }, `init: "lecun" unknown`},
		// 1e15 units would overflow the count of parameters into a
		// negative slice length.
		{"too wide", func(a *Architecture) { a.Layers[0].Units = 1e15 }, "layers: more than 2147483647 weights and biases"},
		{"too many inputs", func(a *Architecture) { a.Inputs = math.MaxInt }, "layers: more than 2147483647"},
		{"just too many", func(a *Architecture) { a.Inputs, a.Layers[0].Units = 1<<16, 1<<15 }, "layers: more than 2147483647"},
	}
	for _, tc := range tests {
		a := ok()
		tc.change(&a)
		err := a.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got error %q want none", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got error %v want one containing %q", tc.name, err, tc.want)
		}
		if _, nerr := New[float32](a); (nerr == nil) != (err == nil) {
			t.Errorf("%s: New's error %v disagrees with Validate's %v", tc.name, nerr, err)
		}
	}
	// Every problem is reported, so that a job spec is fixed in one pass.
	a := ok()
	a.Inputs, a.Cost = 0, "hinge"
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "inputs: 0") || !strings.Contains(err.Error(), `cost: "hinge"`) {
		t.Errorf("two problems: got %v, want both named", err)
	}
}

func TestSizes(t *testing.T) {
	a := Architecture{Inputs: 784, Layers: []Layer{{256, ReLU, 0}, {128, ReLU, 0}, {10, Softmax, 0}}, Cost: CategoricalCrossEntropy}
	if got, want := a.NumParams(), 256*785+128*257+10*129; got != want {
		t.Errorf("NumParams: got %d want %d", got, want)
	}
	if got := a.Outputs(); got != 10 {
		t.Errorf("Outputs: got %d want 10", got)
	}
	n, err := New[float32](a)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(n.Params()); got != a.NumParams() || n.NumParams() != got {
		t.Errorf("len(Params) = %d, NumParams = %d, want %d", got, n.NumParams(), a.NumParams())
	}
	a.Layers[0].Units = 1 // the network keeps its own copy
	if n.Arch().Layers[0].Units != 256 {
		t.Errorf("Arch changed with the caller's slice")
	}
}

// TestInitialize checks the spread of each scheme and that biases are zero.
func TestInitialize(t *testing.T) {
	tests := []struct {
		init Init
		std  float64 // of the first layer, 400 inputs and 300 units
	}{
		{"", 1 / math.Sqrt(400)},
		{Gaussian, 1 / math.Sqrt(400)},
		{He, math.Sqrt(2.0 / 400)},
		{Xavier, math.Sqrt(2.0 / 700)},
	}
	for _, tc := range tests {
		a := Architecture{Inputs: 400, Layers: []Layer{{300, Tanh, 0}, {2, Sigmoid, 0}}, Cost: MSE, Init: tc.init}
		n, err := New[float64](a)
		if err != nil {
			t.Fatal(err)
		}
		n.Initialize(3)
		w, b := n.Params()[:400*300], n.Params()[400*300:400*300+300]
		var sum, sq float64
		for _, v := range w {
			sum += v
			sq += v * v
		}
		mean, std := sum/float64(len(w)), math.Sqrt(sq/float64(len(w)))
		if math.Abs(mean) > 3*tc.std/math.Sqrt(float64(len(w))) || math.Abs(std/tc.std-1) > 0.01 {
			t.Errorf("init %q: weights have mean %.3g std %.4g, want 0 and %.4g", tc.init, mean, std, tc.std)
		}
		for _, v := range b {
			if v != 0 {
				t.Errorf("init %q: a bias is %v, want 0", tc.init, v)
				break
			}
		}
	}
}
