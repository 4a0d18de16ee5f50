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
