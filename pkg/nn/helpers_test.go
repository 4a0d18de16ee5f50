package nn

import (
	"math/rand/v2"
	"testing"
)

// combo is an output activation with a cost it can be trained with.
type combo struct {
	out  Activation
	cost Cost
}

// combos lists every valid output pairing.
var combos = []combo{
	{Sigmoid, MSE}, {Tanh, MSE}, {ReLU, MSE}, {LeakyReLU, MSE}, {Identity, MSE}, {Softmax, MSE},
	{Sigmoid, CrossEntropy},
	{Softmax, CategoricalCrossEntropy},
}

var hiddenActivations = []Activation{Sigmoid, Tanh, ReLU, LeakyReLU, Identity}

// newNet returns an initialised network or fails the test.
func newNet[T Float](t testing.TB, a Architecture, seed uint64) *Network[T] {
	t.Helper()
	n, err := New[T](a)
	if err != nil {
		t.Fatal(err)
	}
	n.Initialize(seed)
	return n
}

// randomBatch returns rows of Gaussian inputs with targets that suit the
// cost: one-hot rows for categorical cross-entropy, values in [0,1] for
// cross-entropy, Gaussian values for MSE. Sample indices are spread out, as
// a shuffled epoch's would be.
func randomBatch[T Float](a Architecture, rows int, seed uint64) Batch[T] {
	r := rand.New(rand.NewPCG(seed, 99))
	out := a.Outputs()
	b := Batch[T]{X: make([]T, rows*a.Inputs), Y: make([]T, rows*out), Index: make([]int, rows)}
	for i := range b.X {
		b.X[i] = T(r.NormFloat64())
	}
	for i := range rows {
		b.Index[i] = 1000 + 7*i + r.IntN(7)
		y := b.Y[i*out : (i+1)*out]
		switch a.Cost {
		case CategoricalCrossEntropy:
			y[r.IntN(out)] = 1
		case CrossEntropy:
			for j := range y {
				y[j] = T(r.Float64())
			}
		default:
			for j := range y {
				y[j] = T(r.NormFloat64())
			}
		}
	}
	return b
}

// rows returns rows [from, to) of b.
func (b Batch[T]) rows(from, to, inputs, outputs int) Batch[T] {
	return Batch[T]{
		X:     b.X[from*inputs : to*inputs],
		Y:     b.Y[from*outputs : to*outputs],
		Index: b.Index[from:to],
	}
}
