// Package train runs a job spec's training: it builds the network and
// optimiser the spec describes (jobspec turns the spec into their types),
// loads the data, and drives epochs of mini-batch steps with evaluation,
// early stopping and a guard against a diverging loss.
//
// Replica is one model replica with every buffer sized once, so that a
// step allocates nothing. Its Steps is the one step loop: the single
// process makes each batch's gradient with Gradients; a cluster worker
// makes its part of the batch's (or GradientsByLayer, layer by layer) and
// all-reduces Reduced, the gradient and the loss, before the update.
// Loop is the one epoch loop: Run gives it the steps; the coordinator
// gives it rings of workers. Both track the model to save with Tracker.
//
// The package does not talk to the network, draw progress bars or parse
// flags: progress goes to an Observer.
package train
