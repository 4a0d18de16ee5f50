package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsBits checks the float32 kernels with state (assembly on
// amd64, the Go loops with -tags purego) against a one-value reference
// whose explicit conversions round every operation, bit for bit: lengths
// around the unrolling, unaligned slices, and several steps so that the
// state feeds back. Adam's second moment is the state's second half.
func TestKernelsBits(t *testing.T) {
	const mu, lr = float32(0.9), float32(0.1)
	const b1, c1, b2, c2, step, rs, eps = float32(0.9), float32(0.1), float32(0.999), float32(0.001), float32(0.01), float32(1.3), float32(1e-8)
	kernels := []struct {
		name string
		run  func(w, g, s []float32)
		ref  func(w, g float32, s []float32) float32
	}{
		{"momentum", func(w, g, s []float32) { momentum(w, g, s[:len(w)], mu, lr) },
			func(w, g float32, s []float32) float32 {
				s[0] = float32(float32(mu*s[0]) + g)
				return float32(w - float32(lr*s[0]))
			}},
		{"nesterov", func(w, g, s []float32) { nesterov(w, g, s[:len(w)], mu, lr) },
			func(w, g float32, s []float32) float32 {
				s[0] = float32(float32(mu*s[0]) + g)
				return float32(w - float32(lr*float32(g+float32(mu*s[0]))))
			}},
		{"adam", func(w, g, s []float32) { adam(w, g, s[:len(w)], s[len(w):], b1, c1, b2, c2, step, rs, eps) },
			func(w, g float32, s []float32) float32 {
				s[0] = float32(float32(b1*s[0]) + float32(c1*g))
				s[1] = float32(float32(b2*s[1]) + float32(float32(c2*g)*g))
				den := float32(float32(float32(math.Sqrt(float64(s[1])))*rs) + eps)
				return float32(w - float32(float32(step*s[0])/den))
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
			for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1001} {
				for off := range 3 {
					// The kernels see vectors of n from off, as training's flat
					// vectors are sliced; the state is two of them, m then v
					// (momentum uses m).
					w, g, s := make([]float32, n+off), make([]float32, n+off), make([]float32, 2*n+off)
					for i := range w {
						w[i] = value()
					}
					for i := range s {
						s[i] = value()
						if k.name == "adam" && i >= n+off {
							s[i] = float32(math.Abs(float64(s[i]))) // a second moment
						}
					}
					for step := range 3 {
						for i := range g {
							g[i] = value()
						}
						ww, ws := append([]float32(nil), w...), append([]float32(nil), s...)
						for i := off; i < n+off; i++ {
							st := []float32{ws[i], ws[n+i]}
							ww[i] = k.ref(w[i], g[i], st)
							ws[i], ws[n+i] = st[0], st[1]
						}
						k.run(w[off:], g[off:], s[off:])
						for i := range w {
							if !same(w[i], ww[i]) {
								t.Fatalf("n=%d offset %d step %d: w[%d] is %v, want %v", n, off, step, i-off, w[i], ww[i])
							}
						}
						for i := range s {
							if !same(s[i], ws[i]) {
								t.Fatalf("n=%d offset %d step %d: state[%d] is %v, want %v", n, off, step, i-off, s[i], ws[i])
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
