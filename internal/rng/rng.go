package rng

import "math/rand/v2"

// Purpose separates the streams drawn for different uses of one sample, so
// that, say, its dropout mask and its augmentation are independent.
type Purpose uint64

// Purposes used by ringtrain. New purposes are appended, never renumbered:
// renumbering would change every trained model's bytes.
const (
	Init Purpose = iota + 1
	Shuffle
	Dropout
	Augment
	Split
	Synthetic
)

// mix is SplitMix64's finaliser: a bijection with good avalanche, so nearby
// keys (epoch 3 and 4) give unrelated streams.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Key folds a seed, a purpose and any number of coordinates into the two
// 64-bit words a PCG generator is seeded with.
func Key(seed uint64, p Purpose, coords ...uint64) (uint64, uint64) {
	h := mix(seed ^ mix(uint64(p)))
	for _, c := range coords {
		h = mix(h ^ c)
	}
	return h, mix(h ^ 0x6a09e667f3bcc909)
}

// Source is a reusable PCG source. Reseeding it costs no allocation, which is
// what the training step needs: one reseed per sample per layer.
type Source struct {
	pcg rand.PCG
	r   *rand.Rand
}

// NewSource returns a Source seeded with key (seed, p, coords...).
func NewSource(seed uint64, p Purpose, coords ...uint64) *Source {
	s := &Source{}
	s.r = rand.New(&s.pcg)
	s.Reseed(seed, p, coords...)
	return s
}

// Reseed points the source at the stream of key (seed, p, coords...).
func (s *Source) Reseed(seed uint64, p Purpose, coords ...uint64) {
	s.pcg.Seed(Key(seed, p, coords...))
}

// Rand returns the generator reading this source's stream.
func (s *Source) Rand() *rand.Rand { return s.r }

// Uint64 returns the next 64 random bits of the stream.
func (s *Source) Uint64() uint64 { return s.pcg.Uint64() }
