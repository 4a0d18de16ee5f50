package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMomentumKernelsBits checks the float32 momentum kernels (assembly
// on amd64, the Go loops with -tags purego) against a one-value reference
// whose explicit conversions round every operation, bit for bit: lengths
// around the unrolling, unaligned slices, and several steps so that the
// velocity feeds back.
func TestMomentumKernelsBits(t *testing.T) {
	const mu, lr = float32(0.9), float32(0.1)
	kernels := []struct {
		name string
		run  func(w, g, v []float32)
		ref  func(w, g, v float32) (float32, float32)
	}{
		{"momentum", func(w, g, v []float32) { momentum(w, g, v, mu, lr) },
			func(w, g, v float32) (float32, float32) {
				v = float32(float32(mu*v) + g)
				return float32(w - float32(lr*v)), v
			}},
		{"nesterov", func(w, g, v []float32) { nesterov(w, g, v, mu, lr) },
			func(w, g, v float32) (float32, float32) {
				v = float32(float32(mu*v) + g)
				return float32(w - float32(lr*float32(g+float32(mu*v)))), v
			}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	value := func() float32 {
		if rng.IntN(16) == 0 {
			return []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.NaN()), 1e-40, -1e-40}[rng.IntN(6)]
		}
		return float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(20)-10)))
	}
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 1001} {
				for off := range 3 {
					w, g, v := make([]float32, n+off), make([]float32, n+off), make([]float32, n+off)
					for i := range w {
						w[i], v[i] = value(), value()
					}
					for step := range 3 {
						for i := range g {
							g[i] = value()
						}
						ww, wv := append([]float32(nil), w...), append([]float32(nil), v...)
						for i := off; i < n+off; i++ {
							ww[i], wv[i] = k.ref(w[i], g[i], v[i])
						}
						k.run(w[off:], g[off:], v[off:])
						for i := range w {
							if !same(w[i], ww[i]) || !same(v[i], wv[i]) {
								t.Fatalf("n=%d offset %d step %d: value %d is w=%v v=%v, want w=%v v=%v", n, off, step, i-off, w[i], v[i], ww[i], wv[i])
							}
						}
					}
				}
			}
		})
	}
}

// same reports whether a and b are the same float32; any NaN is the same
// as any other.
func same(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}
