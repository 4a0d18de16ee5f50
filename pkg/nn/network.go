package nn

import (
	"slices"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Network is one replica of a model: its architecture and its parameters,
// which live in one contiguous slice so that an optimiser or an all-reduce
// can treat them as a single vector.
type Network[T Float] struct {
	arch    Architecture
	params  []T
	layers  []layer
	dropout bool // some layer has dropout, so batches need sample indices
}

// layer locates one dense layer's weights and biases in the parameter slice
// (and, with the same offsets, in a gradient slice).
type layer struct {
	in, out int
	w, b    int // offsets of W (out×in, row-major) and b (out)
	act     Activation
	dropout float64
}

// New returns a network with architecture a and all parameters zero; call
// Initialize or copy saved parameters into Params.
func New[T Float](a Architecture) (*Network[T], error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a.Layers = slices.Clone(a.Layers) // the caller's slice may change later
	n := &Network[T]{arch: a, params: make([]T, a.NumParams())}
	blocks := a.Blocks()
	for i, l := range a.Layers {
		w, b := blocks[2*i], blocks[2*i+1]
		n.layers = append(n.layers, layer{
			in: w.Shape[1], out: l.Units,
			w: w.Off, b: b.Off,
			act: l.Activation, dropout: l.Dropout,
		})
		n.dropout = n.dropout || l.Dropout > 0
	}
	return n, nil
}

// Initialize draws every weight from the architecture's Init distribution and
// sets every bias to 0. Each layer has its own stream keyed by (seed, layer),
// so the same seed gives the same bytes on any machine.
func (n *Network[T]) Initialize(seed uint64) {
	for i, l := range n.layers {
		std := n.arch.Init.std(l.in, l.out)
		r := rng.NewSource(seed, rng.Init, uint64(i)).Rand()
		for j := range l.out * l.in {
			n.params[l.w+j] = T(r.NormFloat64() * std)
		}
		clear(n.params[l.b : l.b+l.out])
	}
}

// Arch returns the network's architecture.
func (n *Network[T]) Arch() Architecture {
	a := n.arch
	a.Layers = slices.Clone(a.Layers)
	return a
}

// Params returns the parameters, not a copy: per layer W (Units×inputs,
// row-major) then b (Units). Writing to it changes the network.
func (n *Network[T]) Params() []T { return n.params }

// NumParams returns len(Params()).
func (n *Network[T]) NumParams() int { return len(n.params) }
