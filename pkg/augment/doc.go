// Package augment makes randomly perturbed copies of image inputs — shifts
// of a few pixels, horizontal flips and small rotations — to enlarge the
// training set, a classic remedy for over-fitting.
//
// The perturbation of a sample is a pure function of (job seed, epoch,
// sample index), drawn from internal/rng's Augment stream, so it is the same
// whichever worker handles the sample and however its batch is split.
// Apply allocates nothing; on a 28×28 image a shift or flip takes about
// 0.3 µs and a rotation, which interpolates bilinearly, about 2 µs.
//
// Images are single-channel, H×W, row-major, with 0 as background: pixels
// shifted or rotated in from outside are 0. The package does not decide
// which samples to augment (the trainer augments training batches only)
// and does not normalise.
package augment
