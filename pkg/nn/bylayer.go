package nn

// LayerSink hears from GradientsByLayer how far a gradient has got, so that
// its caller can ship each layer's gradient (to an all-reduce, say) while the
// layers below are still being computed. Its methods run on the goroutine
// that called GradientsByLayer, which goes on writing the ranges of grads not
// reported yet.
type LayerSink interface {
	// CostReady is called once, after the forward pass and before any
	// LayerReady, with the cost GradientsByLayer will return.
	CostReady(cost float64)
	// LayerReady is called once per layer, the output layer first, when
	// grads[lo:hi], that layer's weights and biases, is final, penalty
	// included. The ranges are contiguous: they cover grads from its end
	// backwards, down to 0.
	LayerReady(lo, hi int)
}

// GradientsByLayer is Gradients, telling sink as each layer's gradient
// becomes final. It computes the same bits as Gradients: each layer's
// penalty gradient is added right after that layer's backward step rather
// than after all of them, which changes no sum. It allocates nothing.
func (n *Network[T]) GradientsByLayer(ws *Workspace[T], b Batch[T], grads []T, reg Regularization, r *Randomness, sink LayerSink) float64 {
	rows := n.checkGradients(ws, b, grads, reg, r, "GradientsByLayer")
	var cost float64
	if rows > 0 {
		cost = n.forward(ws, b, rows, true, r) / float64(rows)
	} else {
		clear(grads)
	}
	// The penalty depends on the parameters only, so the whole cost is
	// known before backward starts.
	cost += n.penalty(reg)
	sink.CostReady(cost)
	for i := len(n.layers) - 1; i >= 0; i-- {
		if rows > 0 {
			n.backwardLayer(ws, b.X, rows, grads, i)
		}
		n.penalize(i, grads, reg)
		l := n.layers[i]
		sink.LayerReady(l.w, l.b+l.out)
	}
	return cost
}
