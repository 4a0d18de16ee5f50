package shard

import (
	"math"
	"slices"
	"testing"
)

func TestBatchesArePermutationFixedBySeedAndEpoch(t *testing.T) {
	a := NewBatches(7, 3, 1000, 128)
	b := NewBatches(7, 3, 1000, 128)
	if !slices.Equal(a.Order(), b.Order()) {
		t.Fatal("same (seed, epoch) gave different orders")
	}
	sorted := slices.Clone(a.Order())
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("order is not a permutation: position %d holds %d", i, v)
		}
	}
	for _, other := range []*Batches{NewBatches(7, 4, 1000, 128), NewBatches(8, 3, 1000, 128)} {
		if slices.Equal(a.Order(), other.Order()) {
			t.Error("another seed or epoch gave the same order")
		}
	}
	b.Reset(7, 4)
	if !slices.Equal(b.Order(), NewBatches(7, 4, 1000, 128).Order()) {
		t.Error("Reset to epoch 4 differs from a fresh epoch-4 order")
	}
}

func TestBatches(t *testing.T) {
	tests := []struct{ n, b, steps, last int }{
		{1000, 128, 8, 104}, {1024, 128, 8, 128}, {5, 10, 1, 5}, {0, 4, 0, 0},
		{5, math.MaxInt, 1, 5}, // no overflow: one batch of the whole set
	}
	for _, tc := range tests {
		p := NewBatches(1, 0, tc.n, tc.b)
		if want := min(tc.b, max(tc.n, 1)); p.Size() != want {
			t.Errorf("n=%d b=%d: size %d want %d", tc.n, tc.b, p.Size(), want)
		}
		if p.Steps() != tc.steps {
			t.Errorf("n=%d b=%d: got %d steps want %d", tc.n, tc.b, p.Steps(), tc.steps)
			continue
		}
		total := 0
		for k := range p.Steps() {
			total += len(p.Batch(k))
		}
		if total != tc.n {
			t.Errorf("n=%d b=%d: batches cover %d samples", tc.n, tc.b, total)
		}
		if tc.steps > 0 && len(p.Batch(tc.steps-1)) != tc.last {
			t.Errorf("n=%d b=%d: last batch %d want %d", tc.n, tc.b, len(p.Batch(tc.steps-1)), tc.last)
		}
	}
}

func TestSplitCoversBatchEvenly(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 128, 131} {
		for members := 1; members <= 8; members++ {
			batch := make([]int, n)
			for i := range batch {
				batch[i] = 100 + i
			}
			var joined []int
			lo, hi := n, 0
			for r := range members {
				part := Split(batch, members, r)
				joined = append(joined, part...)
				lo, hi = min(lo, len(part)), max(hi, len(part))
			}
			if !slices.Equal(joined, batch) {
				t.Errorf("n=%d R=%d: parts joined to %v", n, members, joined)
			}
			if hi-lo > 1 {
				t.Errorf("n=%d R=%d: part sizes range %d..%d", n, members, lo, hi)
			}
		}
	}
}
