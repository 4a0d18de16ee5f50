// Package shard decides which samples each step of an epoch trains on, and
// which of them each ring member computes.
//
// The epoch's order is a permutation that depends only on (seed, epoch).
// Step k's global batch is the same B samples however many workers there are;
// Split divides it over R members in contiguous parts whose sizes differ by at
// most one. Because the engine's per-sample randomness depends on the sample
// index alone, and the all-reduce weights each member by its part's size, the
// averaged gradient is the global batch's gradient for any R.
//
// The package does not move data or talk to workers.
package shard
