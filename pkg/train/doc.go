// Package train runs a job spec's training: it turns the spec into a
// network, an optimiser and a learning-rate schedule, loads the data, and
// drives epochs of mini-batch steps with evaluation, early stopping and a
// guard against a diverging loss.
//
// Replica is one model replica's step (gather the batch, augment it, compute
// the mean gradient, apply the optimiser) with every buffer sized once, so a
// step allocates nothing. The single-process Run drives one Replica over
// whole batches; a cluster worker drives its own Replica over its part of
// each batch and all-reduces the gradient between Gradients and Step, or
// layer by layer as GradientsByLayer reports each layer done.
//
// The package does not talk to the network, draw progress bars or parse
// flags: progress goes to an Observer.
package train
