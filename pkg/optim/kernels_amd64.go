//go:build !purego

package optim

import "github.com/ringtrain/ringtrain/pkg/precision"

// On amd64 the float32 momentum and Adam kernels are SSE2 assembly
// (kernels_amd64.s), four values an instruction where Go does not
// vectorise: in Go the Nesterov step was a sixth of a worker's compute
// (the fast recipe on F, docs/benchmarks.md).
// The bits are those of the Go loops, which float64 keeps.

func momentum[T Float](w, g, v []T, mu, lr T) {
	if !precision.Is32[T]() {
		momentumGo(w, g, v, mu, lr)
		return
	}
	g, v = g[:len(w)], v[:len(w)]
	momentumF32(precision.AsFloat32(w), precision.AsFloat32(g), precision.AsFloat32(v), float32(mu), float32(lr))
}

func nesterov[T Float](w, g, v []T, mu, lr T) {
	if !precision.Is32[T]() {
		nesterovGo(w, g, v, mu, lr)
		return
	}
	g, v = g[:len(w)], v[:len(w)]
	nesterovF32(precision.AsFloat32(w), precision.AsFloat32(g), precision.AsFloat32(v), float32(mu), float32(lr))
}

func adam[T Float](w, g, m, v []T, b1, c1, b2, c2, step, rs, eps T) {
	if !precision.Is32[T]() {
		adamGo(w, g, m, v, b1, c1, b2, c2, step, rs, eps)
		return
	}
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	adamF32(precision.AsFloat32(w), precision.AsFloat32(g), precision.AsFloat32(m), precision.AsFloat32(v),
		float32(b1), float32(c1), float32(b2), float32(c2), float32(step), float32(rs), float32(eps))
}

//go:noescape
func momentumF32(w, g, v []float32, mu, lr float32)

//go:noescape
func nesterovF32(w, g, v []float32, mu, lr float32)

//go:noescape
func adamF32(w, g, m, v []float32, b1, c1, b2, c2, step, rs, eps float32)
