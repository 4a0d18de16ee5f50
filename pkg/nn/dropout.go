package nn

import (
	"math"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Randomness keys the dropout masks of a training step: the mask of row r in
// layer l is a function of (Seed, Epoch, the row's global sample index, l)
// only, so it does not depend on which process computes the row or how the
// batch is split.
type Randomness struct {
	Seed  uint64
	Epoch int
}

// dropBits is the resolution of the dropout draw: a unit is dropped when 16
// random bits fall below rate·2¹⁶, so one 64-bit draw decides four units.
const dropBits = 16

// dropThreshold returns the 16-bit threshold for rate and the inverted-dropout
// scale 1/(1 − effective rate), exact for the rounded rate so that a kept
// unit's expected output is unchanged.
func dropThreshold(rate float64) (t uint64, scale float64) {
	t = min(uint64(math.Round(rate*(1<<dropBits))), 1<<dropBits-1)
	return t, (1 << dropBits) / float64(1<<dropBits-t)
}

// dropout applies layer l's mask to activations a and derivatives d
// (rows×units): a dropped unit becomes 0 in both, a kept one is scaled by
// 1/(1 − rate), so that backpropagation through d sees the same mask.
func dropout[T Float](src *rng.Source, r *Randomness, index []int, l int, a, d []T, units int, rate float64) {
	t, s := dropThreshold(rate)
	if t == 0 {
		return
	}
	keep := [2]T{T(s), 0} // indexed by "dropped", to avoid a branch per unit
	for row, idx := range index {
		src.Reseed(r.Seed, rng.Dropout, uint64(r.Epoch), uint64(idx), uint64(l))
		ar, dr := a[row*units:(row+1)*units], d[row*units:(row+1)*units]
		var bits uint64
		for j := range ar {
			if j%(64/dropBits) == 0 {
				bits = src.Uint64()
			}
			// (bits&mask − t) wraps to a number with its top bit set
			// exactly when bits&mask < t: the unit is dropped.
			m := keep[((bits&(1<<dropBits-1))-t)>>63]
			ar[j] *= m
			dr[j] *= m
			bits >>= dropBits
		}
	}
}
