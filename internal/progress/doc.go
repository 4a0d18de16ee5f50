// Package progress shows a training run to a person: a one-line progress bar
// redrawn in place on a terminal, or one plain line per epoch when output is
// a file or a pipe, so logs stay readable.
//
// It formats; it does not decide what to report. Both the local `run`
// command and the cluster `watch` command feed it the same Update values.
package progress
