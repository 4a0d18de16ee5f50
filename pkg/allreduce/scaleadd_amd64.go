//go:build !purego

package allreduce

import "github.com/ringtrain/ringtrain/pkg/precision"

// scaleAdd sets dst[i] = (dst[i]·wd + src[i]·ws)·k for i < len(src),
// len(dst) ≥ len(src), rounding each product and the sum to T. On amd64
// the loop is SSE2 assembly, four float32s (or two float64s) an
// instruction: the adds are a fifth of a member's CPU at large sizes, and
// Go does not vectorise. A factor of 1 changes no bits, so plain adds take
// the same kernel.
func scaleAdd[T precision.Float](dst, src []T, wd, ws, k T) {
	dst = dst[:len(src)] // the kernels write len(src) values
	if precision.Is32[T]() {
		scaleAddF32(precision.AsFloat32(dst), precision.AsFloat32(src), float32(wd), float32(ws), float32(k))
		return
	}
	scaleAddF64(precision.AsFloat64(dst), precision.AsFloat64(src), float64(wd), float64(ws), float64(k))
}

// scaleAddK64 is scaleAdd with a factor that is not a T: the sum is
// multiplied in float64 and the product rounded to T.
func scaleAddK64[T precision.Float](dst, src []T, wd, ws T, k float64) {
	dst = dst[:len(src)]
	if precision.Is32[T]() {
		scaleAddF32K64(precision.AsFloat32(dst), precision.AsFloat32(src), float32(wd), float32(ws), k)
		return
	}
	scaleAddF64(precision.AsFloat64(dst), precision.AsFloat64(src), float64(wd), float64(ws), k)
}

//go:noescape
func scaleAddF32(dst, src []float32, wd, ws, k float32)

//go:noescape
func scaleAddF64(dst, src []float64, wd, ws, k float64)

//go:noescape
func scaleAddF32K64(dst, src []float32, wd, ws float32, k float64)
