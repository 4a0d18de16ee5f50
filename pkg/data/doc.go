// Package data loads the datasets ringtrain trains on and hands out batches
// of them: IDX files (the MNIST family, gzipped or raw), CSV files, Debian's
// Fashion-MNIST package, and small synthetic sets (XOR, two spirals, Gaussian
// blobs, a 1-D regression curve) generated from a seed.
//
// A Dataset holds all of its rows in memory as float32, row-major, so that
// Gather can copy a mini-batch out of it without allocating. Inputs are
// scaled by the loader (IDX pixels to [0,1]); nothing else is normalised.
//
// Malformed input is an error naming the file and the place (byte, record,
// line, column), never a panic; misuse by the caller (a buffer too small for
// Gather) panics. The package does not shuffle epochs, augment images or
// shard data across workers: those belong to the trainer and pkg/augment.
package data
