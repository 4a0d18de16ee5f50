package nn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// Float is the element type of parameters, gradients and activations:
// float32 for training, float64 for gradient checks and users who want it.
type Float = precision.Float

// Activation names a layer's activation function σ.
type Activation string

// Activations. Softmax is allowed on the output layer only.
const (
	Sigmoid   Activation = "sigmoid"
	Tanh      Activation = "tanh"
	ReLU      Activation = "relu"
	LeakyReLU Activation = "leaky_relu" // slope 0.01 below zero
	Identity  Activation = "identity"
	Softmax   Activation = "softmax"
)

// Activations lists every Activation, Costs every Cost and Inits every
// Init: the names a job spec may use, read by its validation.
var (
	Activations = []Activation{Sigmoid, Tanh, ReLU, LeakyReLU, Identity, Softmax}
	Costs       = []Cost{MSE, CrossEntropy, CategoricalCrossEntropy}
	Inits       = []Init{Gaussian, He, Xavier}
)

// DefaultCost is the cost that suits an output layer of activation out:
// categorical cross-entropy for softmax, cross-entropy for sigmoid, MSE
// otherwise.
func DefaultCost(out Activation) Cost {
	switch out {
	case Softmax:
		return CategoricalCrossEntropy
	case Sigmoid:
		return CrossEntropy
	}
	return MSE
}

// Cost names the cost function C minimised by training.
type Cost string

// Costs, each averaged over the rows of a batch.
//
// MSE is the quadratic cost C = 1/(2n)·Σ‖a − y‖², with the conventional ½
// so that the output error is exactly δ = (a − y)∘σ′(z).
//
// CrossEntropy is −1/n·Σ Σ_j y_j ln a_j + (1 − y_j) ln(1 − a_j), for
// sigmoid outputs: binary and multi-label targets.
//
// CategoricalCrossEntropy is −1/n·Σ Σ_j y_j ln a_j for softmax outputs and
// one-hot (or probability) targets.
//
// With the two cross-entropies the output error is the fused δ = a − y: no
// σ′ factor, hence no learning slowdown on a saturated output.
const (
	MSE                     Cost = "mse"
	CrossEntropy            Cost = "cross_entropy"
	CategoricalCrossEntropy Cost = "categorical_cross_entropy"
)

// Init names how Initialize draws weights: from a Gaussian of mean 0 and the
// standard deviation given below. Biases start at 0: symmetry is already
// broken by the weights, and a zero bias keeps ReLU units alive at start.
type Init string

// Inits; "" means Gaussian.
const (
	Gaussian Init = "gaussian" // std 1/√n_in: a unit's input starts with variance about 1
	He       Init = "he"       // std √(2/n_in), for ReLU layers
	Xavier   Init = "xavier"   // std √(2/(n_in+n_out)), Glorot's
)

// Layer is one dense layer z = W·a + b followed by its activation.
type Layer struct {
	Units      int
	Activation Activation
	// Dropout is the rate at which this layer's outputs are dropped during
	// training (inverted dropout: kept outputs are scaled up so inference
	// needs no correction). Hidden layers only. The rate is applied in
	// steps of 2⁻¹⁶, and the scale is exact for the rounded rate.
	Dropout float64
}

// Architecture describes a multilayer perceptron: its input width, its layers
// (the last is the output layer), its cost and its initialisation.
type Architecture struct {
	Inputs int
	Layers []Layer
	Cost   Cost
	Init   Init
}

// MaxParams bounds a network's weights and biases: 2³¹−1, as far as a
// 32-bit index reaches, and already 8 GiB of float32 parameters, with as
// much again for the gradient and for each slot of the optimiser's state.
const MaxParams = 1<<31 - 1

// Validate reports everything wrong with a (errors.Join of one error a
// problem), each error starting with the field's name: "layers[1].units:
// ...".
func (a Architecture) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if a.Inputs < 1 {
		bad("inputs", "%d must be at least 1", a.Inputs)
	}
	if len(a.Layers) == 0 {
		bad("layers", "none given; the last layer is the output layer")
	}
	last := len(a.Layers) - 1
	for i, l := range a.Layers {
		f := fmt.Sprintf("layers[%d]", i)
		if l.Units < 1 {
			bad(f+".units", "%d must be at least 1", l.Units)
		}
		switch {
		case !slices.Contains(Activations, l.Activation):
			bad(f+".activation", "%q unknown (want %s)", l.Activation, names(Activations))
		case l.Activation == Softmax && i != last:
			bad(f+".activation", "softmax is for the output layer only")
		case l.Activation == Softmax && l.Units < 2:
			bad(f+".units", "softmax needs at least 2 units, got %d", l.Units)
		}
		if !(l.Dropout >= 0 && l.Dropout < 1) { // also rejects NaN
			bad(f+".dropout", "%v not in [0,1)", l.Dropout)
		}
		if i == last && l.Dropout != 0 {
			bad(f+".dropout", "%v on the output layer; dropout is for hidden layers", l.Dropout)
		}
	}
	switch {
	case !slices.Contains(Costs, a.Cost):
		bad("cost", "%q unknown (want %s)", a.Cost, names(Costs))
	case last < 0:
	case a.Cost == CrossEntropy && a.Layers[last].Activation != Sigmoid:
		bad("cost", "cross_entropy needs a sigmoid output layer, got %s (use categorical_cross_entropy with softmax)", a.Layers[last].Activation)
	case a.Cost == CategoricalCrossEntropy && a.Layers[last].Activation != Softmax:
		bad("cost", "categorical_cross_entropy needs a softmax output layer, got %s", a.Layers[last].Activation)
	}
	if a.Init != "" && !slices.Contains(Inits, a.Init) {
		bad("init", "%q unknown (want %s)", a.Init, names(Inits))
	}
	if !a.fits() {
		bad("layers", "more than %d weights and biases: make the layers narrower", MaxParams)
	}
	return errors.Join(errs...)
}

// fits reports whether a's parameters number at most MaxParams, counting
// without overflow however wide its layers are. Widths below 1 are
// Validate's other problems and count as nothing here.
func (a Architecture) fits() bool {
	total, in := 0, a.Inputs
	for _, l := range a.Layers {
		if l.Units >= 1 && in >= 1 {
			// l.Units·(in+1) more, compared without forming the product.
			if in > (MaxParams-total)/l.Units-1 {
				return false
			}
			total += l.Units * (in + 1)
		}
		in = l.Units
	}
	return true
}

// names lists values for an error message: "a, b or c".
func names[S ~string](values []S) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Outputs returns the width of the output layer, 0 if there is none.
func (a Architecture) Outputs() int {
	if len(a.Layers) == 0 {
		return 0
	}
	return a.Layers[len(a.Layers)-1].Units
}

// Block is where one layer's weights, or its biases, lie in a network's
// Params (and in a gradient of the same layout).
type Block struct {
	Layer int
	// Bias is false for the weights, a Units×inputs matrix stored row by
	// row, and true for the Units biases.
	Bias bool
	// Shape is [units, inputs] for weights, [units] for biases.
	Shape    []int
	Off, Len int
}

// Blocks returns the layout of a network's Params: each layer's weights,
// then its biases, layer after layer.
func (a Architecture) Blocks() []Block {
	blocks := make([]Block, 0, 2*len(a.Layers))
	off, in := 0, a.Inputs
	for i, l := range a.Layers {
		blocks = append(blocks,
			Block{Layer: i, Shape: []int{l.Units, in}, Off: off, Len: l.Units * in},
			Block{Layer: i, Bias: true, Shape: []int{l.Units}, Off: off + l.Units*in, Len: l.Units})
		off += l.Units * (in + 1)
		in = l.Units
	}
	return blocks
}

// NumParams returns the number of weights and biases.
func (a Architecture) NumParams() int {
	off := a.ParamOffsets()
	return off[len(off)-1]
}

// ParamOffsets returns where each layer's weights and biases start in a
// network's Params (and in a gradient of the same layout), followed by
// NumParams: layer i holds [off[i], off[i+1]).
func (a Architecture) ParamOffsets() []int {
	off := make([]int, 0, len(a.Layers)+1)
	end := 0
	for _, b := range a.Blocks() {
		if !b.Bias {
			off = append(off, b.Off)
		}
		end = b.Off + b.Len
	}
	return append(off, end)
}

// Classifies reports whether the output layer predicts classes, which is
// what accuracy and the confusion matrix need. Sigmoid and softmax outputs
// do; identity, tanh and the ReLUs are read as regression.
func (a Architecture) Classifies() bool {
	out := a.Layers[len(a.Layers)-1].Activation
	return out == Softmax || out == Sigmoid
}

// std returns the standard deviation of layer weights with nIn inputs and
// nOut units.
func (i Init) std(nIn, nOut int) float64 {
	switch i {
	case He:
		return math.Sqrt(2 / float64(nIn))
	case Xavier:
		return math.Sqrt(2 / float64(nIn+nOut))
	default:
		return 1 / math.Sqrt(float64(nIn))
	}
}
