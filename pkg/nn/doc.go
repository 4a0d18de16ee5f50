// Package nn is the mathematics of one replica of a multilayer perceptron:
// dense layers z = W·a + b with sigmoid, tanh, ReLU, leaky ReLU, identity or
// softmax activations; MSE, cross-entropy and categorical cross-entropy
// costs; L1 and L2 penalties and inverted dropout; Gaussian, He and Xavier
// initialisation; and backpropagation over a whole mini-batch at a time, as
// GEMMs (package internal/blas), into buffers sized once so that a training
// step allocates nothing.
//
// A network keeps all its parameters in one slice, and Gradients writes the
// mean gradient of a batch into another slice of the same layout, separately
// from applying it: a distributed worker averages that slice with its peers
// between the two. GradientsByLayer computes the same bits and tells a
// LayerSink as each layer's part of that slice becomes final, the output
// layer first, so that the averaging can start before backward ends. The
// dropout mask of a sample depends only on (seed, epoch, sample index,
// layer), so a batch split over workers gives the gradient of the whole
// batch.
//
// Package nn does not update parameters (see package optim), and knows
// nothing of networks of machines, files or data sets.
package nn
