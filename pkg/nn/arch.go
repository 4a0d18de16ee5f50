package nn

import (
	"fmt"
	"math"

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

// Cost names the cost function C minimised by training.
type Cost string

// Costs, each averaged over the rows of a batch.
//
// MSE is C = 1/(2n)·Σ‖a − y‖², the note's eq. 5 with the conventional ½ so
// that the output error is exactly eq. 17: δ = (a − y)∘σ′(z).
//
// CrossEntropy is eq. 6, −1/n·Σ Σ_j y_j ln a_j + (1 − y_j) ln(1 − a_j), for
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
	Gaussian Init = "gaussian" // std 1/√n_in, the note's default
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

// Validate reports the first thing wrong with a, naming the field.
func (a Architecture) Validate() error {
	if a.Inputs < 1 {
		return fmt.Errorf("inputs: %d must be at least 1", a.Inputs)
	}
	if len(a.Layers) == 0 {
		return fmt.Errorf("layers: none given; the last layer is the output layer")
	}
	last := len(a.Layers) - 1
	for i, l := range a.Layers {
		if l.Units < 1 {
			return fmt.Errorf("layers[%d].units: %d must be at least 1", i, l.Units)
		}
		switch l.Activation {
		case Sigmoid, Tanh, ReLU, LeakyReLU, Identity:
		case Softmax:
			if i != last {
				return fmt.Errorf("layers[%d].activation: softmax is for the output layer only", i)
			}
			if l.Units < 2 {
				return fmt.Errorf("layers[%d].units: softmax needs at least 2 units, got %d", i, l.Units)
			}
		default:
			return fmt.Errorf("layers[%d].activation: %q unknown (want sigmoid, tanh, relu, leaky_relu, identity or softmax)", i, l.Activation)
		}
		if !(l.Dropout >= 0 && l.Dropout < 1) { // also rejects NaN
			return fmt.Errorf("layers[%d].dropout: %v not in [0,1)", i, l.Dropout)
		}
		if i == last && l.Dropout != 0 {
			return fmt.Errorf("layers[%d].dropout: %v on the output layer; dropout is for hidden layers", i, l.Dropout)
		}
	}
	out := a.Layers[last].Activation
	switch a.Cost {
	case MSE:
	case CrossEntropy:
		if out != Sigmoid {
			return fmt.Errorf("cost: cross_entropy needs a sigmoid output layer, got %s", out)
		}
	case CategoricalCrossEntropy:
		if out != Softmax {
			return fmt.Errorf("cost: categorical_cross_entropy needs a softmax output layer, got %s", out)
		}
	default:
		return fmt.Errorf("cost: %q unknown (want mse, cross_entropy or categorical_cross_entropy)", a.Cost)
	}
	switch a.Init {
	case "", Gaussian, He, Xavier:
	default:
		return fmt.Errorf("init: %q unknown (want gaussian, he or xavier)", a.Init)
	}
	return nil
}

// Outputs returns the width of the output layer, 0 if there is none.
func (a Architecture) Outputs() int {
	if len(a.Layers) == 0 {
		return 0
	}
	return a.Layers[len(a.Layers)-1].Units
}

// NumParams returns the number of weights and biases.
func (a Architecture) NumParams() int {
	n, in := 0, a.Inputs
	for _, l := range a.Layers {
		n += l.Units * (in + 1)
		in = l.Units
	}
	return n
}

// ParamOffsets returns where each layer's weights and biases start in a
// network's Params (and in a gradient of the same layout), followed by
// NumParams: layer i holds [off[i], off[i+1]).
func (a Architecture) ParamOffsets() []int {
	off := make([]int, 0, len(a.Layers)+1)
	n, in := 0, a.Inputs
	for _, l := range a.Layers {
		off = append(off, n)
		n += l.Units * (in + 1)
		in = l.Units
	}
	return append(off, n)
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
