package shard

import "github.com/ringtrain/ringtrain/internal/rng"

// Batches is the sample order of one epoch cut into global batches.
type Batches struct {
	order     []int
	batchSize int
}

// NewBatches returns epoch's batches over n samples: a permutation drawn from
// (seed, epoch), cut into batches of batchSize (the last may be shorter).
// It panics if batchSize < 1, a programmer error.
func NewBatches(seed uint64, epoch, n, batchSize int) *Batches {
	if batchSize < 1 {
		panic("shard: batch size must be positive")
	}
	// A batch larger than the set is the whole set (and batchSize+n-1,
	// for a batchSize near the largest int, would overflow Steps).
	b := &Batches{order: make([]int, n), batchSize: min(batchSize, max(n, 1))}
	b.Reset(seed, epoch)
	return b
}

// Reset reuses the storage for another epoch.
func (b *Batches) Reset(seed uint64, epoch int) {
	for i := range b.order {
		b.order[i] = i
	}
	r := rng.NewSource(seed, rng.Shuffle, uint64(epoch)).Rand()
	r.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
}

// Size is the number of samples in a full batch: the batch size asked
// for, or the whole set where that is smaller.
func (b *Batches) Size() int { return b.batchSize }

// Steps is the number of global batches in the epoch.
func (b *Batches) Steps() int { return (len(b.order) + b.batchSize - 1) / b.batchSize }

// Batch returns the sample indices of step k, a view into b.
func (b *Batches) Batch(k int) []int {
	lo := k * b.batchSize
	return b.order[lo:min(lo+b.batchSize, len(b.order))]
}

// Order is the whole epoch's permutation, a view into b.
func (b *Batches) Order() []int { return b.order }

// Split returns the part of batch that member rank of members computes.
// Parts are contiguous, cover the batch exactly once, and differ in size by at
// most one; a member may get an empty part when the batch is smaller than the
// ring.
func Split(batch []int, members, rank int) []int {
	if members < 1 || rank < 0 || rank >= members {
		panic("shard: rank out of range")
	}
	n := len(batch)
	lo := rank*(n/members) + min(rank, n%members)
	size := n / members
	if rank < n%members {
		size++
	}
	return batch[lo : lo+size]
}
