package nn

import (
	"math"
	"slices"
	"testing"
)

func TestArgmax(t *testing.T) {
	out := []float32{
		0.1, 0.7, 0.2,
		3, 3, 1, // ties go to the first
		-5, -4, -6,
	}
	got := Argmax(out, 3, 3, nil)
	if want := []int{1, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	dst := make([]int, 0, 8)
	if got := Argmax(out, 3, 3, dst); &got[0] != &dst[:1][0] {
		t.Errorf("Argmax did not reuse a large enough dst")
	}
}

// identityClassifier returns a 3-class softmax network whose output is
// softmax(x), so that its predictions are the argmax of the inputs.
func identityClassifier(t *testing.T) *Network[float64] {
	a := Architecture{Inputs: 3, Layers: []Layer{{Units: 3, Activation: Softmax}}, Cost: CategoricalCrossEntropy}
	n := newNet[float64](t, a, 1)
	copy(n.Params(), []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	return n
}

func TestEvaluateClassification(t *testing.T) {
	n := identityClassifier(t)
	x := []float64{
		5, 0, 0, // predicted 0
		0, 5, 0, // 1
		0, 0, 5, // 2
		0, 5, 0, // 1
		5, 0, 0, // 0
	}
	y := []float64{
		1, 0, 0, // true 0
		0, 1, 0, // 1
		1, 0, 0, // 0
		0, 0, 1, // 2
		1, 0, 0, // 0
	}
	var loss float64
	for r := range 5 {
		out := refForward(n.Arch(), n.Params(), x[3*r:3*r+3])
		for j := range 3 {
			loss -= y[3*r+j] * math.Log(out[j])
		}
	}
	loss /= 5
	want := [][]int{{2, 0, 1}, {0, 1, 0}, {0, 1, 0}}
	// A workspace of 2 rows makes Evaluate work in three batches.
	for _, size := range []int{2, 5} {
		m := n.Evaluate(NewWorkspace[float64](n.Arch(), size), x, y, 5)
		if m.N != 5 || m.Accuracy != 3.0/5 || !slices.EqualFunc(m.Confusion, want, slices.Equal) {
			t.Errorf("workspace of %d: got N %d accuracy %v confusion %v, want 5, 0.6, %v", size, m.N, m.Accuracy, m.Confusion, want)
		}
		if math.Abs(m.Loss-loss) > 1e-12 {
			t.Errorf("workspace of %d: loss %v want %v", size, m.Loss, loss)
		}
	}
}

func TestEvaluateBinaryAndRegression(t *testing.T) {
	// One sigmoid output: classes are a < 0.5 and a ≥ 0.5.
	a := Architecture{Inputs: 1, Layers: []Layer{{Units: 1, Activation: Sigmoid}}, Cost: CrossEntropy}
	n := newNet[float64](t, a, 1)
	copy(n.Params(), []float64{1, 0})
	m := n.Evaluate(NewWorkspace[float64](a, 4), []float64{-2, 3, 1, -1}, []float64{0, 1, 0, 1}, 4)
	if want := [][]int{{1, 1}, {1, 1}}; m.Accuracy != 0.5 || !slices.EqualFunc(m.Confusion, want, slices.Equal) {
		t.Errorf("binary: accuracy %v confusion %v, want 0.5 and %v", m.Accuracy, m.Confusion, want)
	}
	if !slices.Equal(m.LabelAccuracy, []float64{0.5}) {
		t.Errorf("binary: label accuracy %v, want [0.5]", m.LabelAccuracy)
	}

	// Two sigmoid outputs, multi-label: a = σ(x) for each input.
	a = Architecture{Inputs: 2, Layers: []Layer{{Units: 2, Activation: Sigmoid}}, Cost: CrossEntropy}
	n = newNet[float64](t, a, 1)
	copy(n.Params(), []float64{1, 0, 0, 1, 0, 0})
	// Label 0 right in 3 rows of 4, label 1 in 2.
	m = n.Evaluate(NewWorkspace[float64](a, 3), []float64{2, 2, -2, 2, 2, -2, -2, -2}, []float64{1, 1, 0, 0, 1, 0, 1, 1}, 4)
	if !slices.Equal(m.LabelAccuracy, []float64{0.75, 0.5}) {
		t.Errorf("multi-label: label accuracy %v, want [0.75 0.5]", m.LabelAccuracy)
	}

	// Identity output: regression, so no accuracy, and the loss is MSE.
	a = Architecture{Inputs: 1, Layers: []Layer{{Units: 1, Activation: Identity}}, Cost: MSE}
	n = newNet[float64](t, a, 1)
	copy(n.Params(), []float64{2, 1}) // a = 2x + 1
	m = n.Evaluate(NewWorkspace[float64](a, 3), []float64{0, 1, 2}, []float64{1, 4, 5}, 3)
	if want := (0.0 + 1 + 0) / 2 / 3; m.Accuracy != 0 || m.Confusion != nil || math.Abs(m.Loss-want) > 1e-15 || m.N != 3 {
		t.Errorf("regression: got %+v, want loss %v, accuracy 0, no confusion", m, want)
	}
	if m := n.Evaluate(NewWorkspace[float64](a, 3), nil, nil, 0); m.N != 0 || m.Loss != 0 || m.Accuracy != 0 {
		t.Errorf("no rows: got %+v", m)
	}
}

// TestEvaluateRegressionScores: RMSE, MAE and R² pooled over two outputs,
// across batches, against values worked by hand.
func TestEvaluateRegressionScores(t *testing.T) {
	// Two identity outputs copying the two inputs: ŷ = x.
	a := Architecture{Inputs: 2, Layers: []Layer{{Units: 2, Activation: Identity}}, Cost: MSE}
	n := newNet[float64](t, a, 1)
	copy(n.Params(), []float64{1, 0, 0, 1, 0, 0})
	x := []float64{1, 10, 2, 20, 3, 30, 4, 40}
	tests := []struct {
		name          string
		y             []float64
		rmse, mae, r2 float64
	}{
		// Errors 0 everywhere.
		{"perfect", x, 0, 0, 1},
		// Errors +1 on every value: RMSE = MAE = 1; SStot = 5 + 500.
		{"off by one", []float64{0, 9, 1, 19, 2, 29, 3, 39}, 1, 1, 1 - 8.0/505},
		// Errors of output 0: 1, -1, 1, -1; output 1 exact; y0 = 0,3,2,5
		// (mean 2.5, SStot 13), y1 as x (SStot 500).
		{"mixed", []float64{0, 10, 3, 20, 2, 30, 5, 40}, math.Sqrt(4.0 / 8), 4.0 / 8, 1 - 4.0/513},
	}
	for _, tc := range tests {
		for _, batch := range []int{1, 3, 4} {
			m := n.Evaluate(NewWorkspace[float64](a, batch), x, tc.y, 4)
			if math.Abs(m.RMSE-tc.rmse) > 1e-12 || math.Abs(m.MAE-tc.mae) > 1e-12 || math.Abs(m.R2-tc.r2) > 1e-12 {
				t.Errorf("%s, batches of %d: RMSE %v MAE %v R² %v, want %v %v %v", tc.name, batch, m.RMSE, m.MAE, m.R2, tc.rmse, tc.mae, tc.r2)
			}
		}
	}
	// In units where a value is twice the network's, plus 10: errors
	// double, R² stays.
	u := &Units{Offset: []float64{10, 10}, Scale: []float64{0.5, 0.5}}
	off := []float64{0, 9, 1, 19, 2, 29, 3, 39}
	if m := n.EvaluateIn(NewWorkspace[float64](a, 4), x, off, 4, u); math.Abs(m.RMSE-2) > 1e-12 || math.Abs(m.MAE-2) > 1e-12 || math.Abs(m.R2-(1-8.0/505)) > 1e-12 {
		t.Errorf("in units: RMSE %v MAE %v R² %v, want 2 2 %v", m.RMSE, m.MAE, m.R2, 1-8.0/505)
	}
	// Constant targets: R² is undefined, reported 0.
	if m := n.Evaluate(NewWorkspace[float64](a, 4), x, []float64{1, 1, 1, 1, 1, 1, 1, 1}, 4); m.R2 != 0 {
		t.Errorf("constant targets: R² %v, want 0", m.R2)
	}
	// Classification has none of them.
	c := identityClassifier(t)
	if m := c.Evaluate(NewWorkspace[float64](c.Arch(), 2), []float64{1, 0, 0}, []float64{1, 0, 0}, 1); m.RMSE != 0 || m.MAE != 0 || m.R2 != 0 {
		t.Errorf("classification: got %+v", m)
	}
}
