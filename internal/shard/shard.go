package shard

import "github.com/ringtrain/ringtrain/internal/rng"

// Plan is the sample order of one epoch cut into global batches.
type Plan struct {
	order     []int
	batchSize int
}

// NewPlan returns epoch's plan over n samples: a permutation drawn from
// (seed, epoch), cut into batches of batchSize (the last may be shorter).
// It panics if batchSize < 1, a programmer error.
func NewPlan(seed uint64, epoch, n, batchSize int) *Plan {
	if batchSize < 1 {
		panic("shard: batch size must be positive")
	}
	p := &Plan{order: make([]int, n), batchSize: batchSize}
	p.Reset(seed, epoch)
	return p
}

// Reset reuses the plan's storage for another epoch.
func (p *Plan) Reset(seed uint64, epoch int) {
	for i := range p.order {
		p.order[i] = i
	}
	r := rng.NewSource(seed, rng.Shuffle, uint64(epoch)).Rand()
	r.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
}

// Steps is the number of global batches in the epoch.
func (p *Plan) Steps() int { return (len(p.order) + p.batchSize - 1) / p.batchSize }

// Batch returns the sample indices of step k, a view into the plan.
func (p *Plan) Batch(k int) []int {
	lo := k * p.batchSize
	return p.order[lo:min(lo+p.batchSize, len(p.order))]
}

// Order is the whole epoch's permutation, a view into the plan.
func (p *Plan) Order() []int { return p.order }

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
