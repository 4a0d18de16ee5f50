// Package rng derives reproducible random streams from a job seed and the
// coordinates of the thing being randomised (purpose, epoch, sample index,
// layer), so that a sample's dropout mask or augmentation is the same bytes
// whichever process handles it and however its batch is split.
//
// It does not hold global state and does not read the clock: every stream is
// a pure function of its key.
package rng
