package nn

import "unsafe"

// The bits of 1.0, selected against 0 or the leak by the ReLU kernels;
// constants, so that the loops keep them in a register.
const (
	one32 = 0x3f800000
	one64 = 0x3ff0000000000000
)

// is32 reports whether T is a float32 kind; kernels that work on the bits of
// their numbers need the concrete type.
func is32[T Float]() bool {
	var zero T
	return unsafe.Sizeof(zero) == 4
}

func f32[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func f64[T Float](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
