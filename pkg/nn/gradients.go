package nn

import (
	"fmt"

	"github.com/ringtrain/ringtrain/internal/blas"
)

// Regularization is the weight penalty of L1 and L2: λ₁/N·Σ|w| and
// λ₂/(2N)·Σw², where N is the size of the whole training set, also when a
// worker sees only a shard of it, so that every worker adds the same term.
// Biases are not penalised.
type Regularization struct {
	L1, L2 float64
	N      int
}

// Batch is a mini-batch: rows of inputs, their targets (one-hot for classes)
// and each row's global sample index, which keys its dropout masks.
type Batch[T Float] struct {
	X     []T   // rows×Inputs
	Y     []T   // rows×Outputs
	Index []int // rows; needed only with dropout
}

// Gradients overwrites grads (laid out like Params) with the gradient of the
// cost, averaged over the batch's rows, plus the regularisation gradient, and
// returns the cost: mean data cost plus the regularisation term. Dropout is
// on when r is not nil. It allocates nothing.
//
// An empty batch, a worker's share of a short last batch, has data cost and
// gradient 0. Gradients panics on shapes that do not fit the network or ws:
// those are bugs.
func (n *Network[T]) Gradients(ws *Workspace[T], b Batch[T], grads []T, reg Regularization, r *Randomness) float64 {
	rows := n.checkGradients(ws, b, grads, reg, r, "Gradients")
	if rows == 0 {
		clear(grads)
		return n.regularize(grads, reg)
	}
	cost := n.forward(ws, b, rows, true, r) / float64(rows)
	n.backward(ws, b.X, rows, grads)
	return cost + n.regularize(grads, reg)
}

// checkGradients panics, naming op, unless the arguments of a gradient call
// fit the network and each other, and returns the batch's rows.
func (n *Network[T]) checkGradients(ws *Workspace[T], b Batch[T], grads []T, reg Regularization, r *Randomness, op string) int {
	in, out := n.arch.Inputs, n.arch.Outputs()
	rows := len(b.X) / in
	switch {
	case len(b.X) != rows*in:
		panic(fmt.Sprintf("nn: %s: len(X) = %d is not a multiple of %d inputs", op, len(b.X), in))
	case len(b.Y) != rows*out:
		panic(fmt.Sprintf("nn: %s: len(Y) = %d, want %d rows × %d outputs", op, len(b.Y), rows, out))
	case len(grads) != len(n.params):
		panic(fmt.Sprintf("nn: %s: len(grads) = %d, want %d", op, len(grads), len(n.params)))
	case r != nil && n.dropout && len(b.Index) != rows:
		panic(fmt.Sprintf("nn: %s: dropout needs an index per row, got %d for %d rows", op, len(b.Index), rows))
	case (reg.L1 != 0 || reg.L2 != 0) && reg.N < 1:
		panic(fmt.Sprintf("nn: %s: regularisation needs the training set size, got N = %d", op, reg.N))
	}
	ws.check(n, rows, op)
	return rows
}

// forward runs the layers over the rows of b.X into ws and, when b.Y is not
// nil, returns the summed data cost and leaves the output error in ws. With
// train it also keeps the derivatives backward needs, and with r it applies
// dropout to the hidden layers.
func (n *Network[T]) forward(ws *Workspace[T], b Batch[T], rows int, train bool, r *Randomness) float64 {
	last := len(n.layers) - 1
	a := b.X[:rows*n.arch.Inputs]
	for i, l := range n.layers {
		z := ws.a[i][:rows*l.out]
		w, bias := n.params[l.w:l.b], n.params[l.b:l.b+l.out]
		blas.Gemm(false, true, rows, l.out, l.in, 1, a, l.in, w, l.in, 0, z, l.out)
		if i == last {
			var delta []T
			if b.Y != nil {
				delta = ws.delta[i][:rows*l.out]
			}
			return output(l.act, n.arch.Cost, z, bias, b.Y, delta, 1/T(rows))
		}
		var d []T
		if train {
			d = ws.d[i][:rows*l.out]
		}
		activate(l.act, z, d, bias)
		if r != nil && l.dropout > 0 {
			dropout(ws.src, r, b.Index[:rows], i, z, d, l.out, l.dropout)
		}
		a = z
	}
	panic("unreachable: an architecture has an output layer")
}

// backward turns the output error left in ws by forward into the gradients
// of every layer by backpropagation, a whole batch per GEMM: a layer's
// error δ = (Wᵀδ_next)∘σ′(z) from the next layer's, and its gradients
// ∂C/∂W = δ·aᵀ_in and ∂C/∂b = δ.
func (n *Network[T]) backward(ws *Workspace[T], x []T, rows int, grads []T) {
	for i := len(n.layers) - 1; i >= 0; i-- {
		n.backwardLayer(ws, x, rows, grads, i)
	}
}

// backwardLayer computes layer i's gradient from its error δ in ws and,
// but for the first layer, the error of the layer below.
func (n *Network[T]) backwardLayer(ws *Workspace[T], x []T, rows int, grads []T, i int) {
	l := n.layers[i]
	delta := ws.delta[i][:rows*l.out]
	var a []T
	if i == 0 {
		a = x[:rows*l.in]
	} else {
		a = ws.a[i-1][:rows*l.in]
	}
	// ∂C/∂W = δᵀ·a and ∂C/∂b = δᵀ·1, summed over rows; δ already
	// carries the 1/rows of the mean.
	blas.Gemm(true, false, l.out, l.in, rows, 1, delta, l.out, a, l.in, 0, grads[l.w:l.b], l.in)
	blas.Gemv(true, rows, l.out, 1, delta, l.out, ws.ones[:rows], 0, grads[l.b:l.b+l.out])
	if i == 0 {
		return // no error is needed for the inputs
	}
	// δ_prev = (δ·W) ∘ σ′(z_prev), the dropout mask already inside σ′.
	prev := ws.delta[i-1][:rows*l.in]
	blas.Gemm(false, false, rows, l.in, l.out, 1, delta, l.out, n.params[l.w:l.b], l.in, 0, prev, l.in)
	mul(prev, ws.d[i-1][:rows*l.in])
}

// mul computes x ∘= y.
func mul[T Float](x, y []T) {
	y = y[:len(x)]
	for i := range x {
		x[i] *= y[i]
	}
}

// regularize adds the weight penalty's gradient to grads and returns the
// penalty.
func (n *Network[T]) regularize(grads []T, reg Regularization) float64 {
	for i := range n.layers {
		n.penalize(i, grads, reg)
	}
	return n.penalty(reg)
}

// penalty returns the weight penalty, summed layer by layer in order.
func (n *Network[T]) penalty(reg Regularization) float64 {
	if reg.L1 == 0 && reg.L2 == 0 {
		return 0
	}
	l1, l2 := reg.L1/float64(reg.N), reg.L2/float64(reg.N)
	var cost float64
	for _, l := range n.layers {
		w := n.params[l.w:l.b]
		if l2 != 0 {
			cost += l2 / 2 * blas.Dot(w, w)
		}
		if l1 != 0 {
			cost += l1 * blas.Asum(w)
		}
	}
	return cost
}

// penalize adds the weight penalty's gradient to layer i's weights in
// grads: each element depends on its own weight only, so the order of
// layers does not change a bit.
func (n *Network[T]) penalize(i int, grads []T, reg Regularization) {
	if reg.L1 == 0 && reg.L2 == 0 {
		return
	}
	l1, l2 := reg.L1/float64(reg.N), reg.L2/float64(reg.N)
	l := n.layers[i]
	w, g := n.params[l.w:l.b], grads[l.w:l.b]
	if l2 != 0 {
		blas.Axpy(T(l2), w, g)
	}
	if l1 != 0 {
		addSign(T(l1), w, g)
	}
}

// addSign computes g += c·sign(w), with sign(0) = 0.
func addSign[T Float](c T, w, g []T) {
	g = g[:len(w)]
	for i, v := range w {
		switch {
		case v > 0:
			g[i] += c
		case v < 0:
			g[i] -= c
		}
	}
}
