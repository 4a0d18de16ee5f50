// Package precision names the floating-point types ringtrain computes in:
// the one constraint every generic package uses (Float), and the names a
// job spec and a model file give them.
package precision

import "unsafe"

// Float is the type of parameters, gradients and activations: float32 or
// float64.
type Float interface{ ~float32 | ~float64 }

// The names of the precisions, as training.precision and model files have
// them.
const (
	Float32 = "float32"
	Float64 = "float64"
)

// Names lists the precisions, the default first.
var Names = []string{Float32, Float64}

// Is32 reports whether T is a float32 kind: the size of its values is
// what kernels on their memory or their bits need to know.
func Is32[T Float]() bool {
	var zero T
	return unsafe.Sizeof(zero) == 4
}

// AsFloat32 returns s's memory as a []float32; T must be a float32 kind.
func AsFloat32[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// AsFloat64 returns s's memory as a []float64; T must be a float64 kind.
func AsFloat64[T Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
