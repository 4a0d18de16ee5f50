// Package optim applies gradients to a flat parameter slice (plain gradient
// descent w ← w − η∇C, momentum, Nesterov momentum and Adam) and computes
// the learning rate of each step from a Schedule (constant, step or cosine,
// each with linear warm-up).
//
// An Optimizer's moments live in one flat slice beside its step count, so a
// checkpoint saves them as it saves the parameters and a restored run
// continues bit for bit. Step allocates nothing.
//
// The package does not compute gradients, regularise or average them across
// workers: it receives the final gradient slice and only updates parameters.
// It does not depend on pkg/nn.
package optim
