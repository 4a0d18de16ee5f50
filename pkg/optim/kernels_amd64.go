//go:build !purego

package optim

import "github.com/ringtrain/ringtrain/pkg/precision"

// On amd64 the float32 momentum kernels are SSE2 assembly
// (kernels_amd64.s), four values an instruction where Go does not
// vectorise: the optimiser step was a sixth of a training step's time.
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

//go:noescape
func momentumF32(w, g, v []float32, mu, lr float32)

//go:noescape
func nesterovF32(w, g, v []float32, mu, lr float32)
