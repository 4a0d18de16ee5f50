package allreduce

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Precision is the type of the values a call reduces. Every member of a
// call must use the same; a mismatch fails the call with ErrMismatch.
type Precision uint8

const (
	Float32 Precision = iota // what training sends: half the bytes
	Float64                  // for float64 jobs and tight equivalence checks
)

// Size returns the bytes per value.
func (p Precision) Size() int {
	if p == Float64 {
		return 8
	}
	return 4
}

func (p Precision) String() string {
	if p == Float64 {
		return "float64"
	}
	return "float32"
}

// Values is a run of float32 or float64 values, the payload of a data
// frame: at most one of its slices is set, the one its frame's Precision
// names.
type Values struct {
	F32 []float32
	F64 []float64
}

// Len returns the number of values.
func (v Values) Len() int { return len(v.F32) + len(v.F64) }

func (v Values) slice(lo, hi int) Values {
	if v.F64 != nil {
		return Values{F64: v.F64[lo:hi]}
	}
	return Values{F32: v.F32[lo:hi]}
}

// add adds src to v element-wise; copyFrom sets v to src. Both have the
// same precision and length.
func (v Values) add(src Values) {
	if v.F64 != nil {
		for i, x := range src.F64 {
			v.F64[i] += x
		}
		return
	}
	for i, x := range src.F32 {
		v.F32[i] += x
	}
}

func (v Values) copyFrom(src Values) {
	copy(v.F32, src.F32)
	copy(v.F64, src.F64)
}

// scale multiplies v by k, rounding once per element.
func (v Values) scale(k float64) {
	if v.F64 != nil {
		for i := range v.F64 {
			v.F64[i] *= k
		}
		return
	}
	if k32 := float32(k); float64(k32) == k {
		// The product of two float32s is exact in float64, so rounding it
		// to float32 is what a float32 multiply does, only slower. This is
		// the case of unweighted means over 2, 4, 8... members.
		for i := range v.F32 {
			v.F32[i] *= k32
		}
		return
	}
	for i, x := range v.F32 {
		v.F32[i] = float32(float64(x) * k)
	}
}

// The wire carries values as little-endian IEEE 754. On a little-endian
// host that is the memory layout, so payloads move with memmove and
// aligned loads instead of per-element conversion.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

type float interface{ float32 | float64 }

// bytesOf returns the memory of s as bytes, for a little-endian host.
func bytesOf[T float](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), int(unsafe.Sizeof(T(0)))*len(s))
}

// fromWire decodes one little-endian value from the start of b.
func fromWire[T float](b []byte) T {
	if unsafe.Sizeof(T(0)) == 8 {
		return T(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	return T(math.Float32frombits(binary.LittleEndian.Uint32(b)))
}

// appendValues appends v to b in wire order.
func appendValues(b []byte, v Values) []byte {
	if v.F64 != nil {
		return appendFloats(b, v.F64)
	}
	return appendFloats(b, v.F32)
}

func appendFloats[T float](b []byte, s []T) []byte {
	if littleEndian {
		return append(b, bytesOf(s)...)
	}
	for _, v := range s {
		if unsafe.Sizeof(v) == 8 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
		} else {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		}
	}
	return b
}

// copyFloats sets dst[i] to the i-th value of b, len(b) == size·len(dst).
func copyFloats[T float](dst []T, b []byte) {
	if littleEndian {
		copy(bytesOf(dst), b)
		return
	}
	size := int(unsafe.Sizeof(T(0)))
	for i := range dst {
		dst[i] = fromWire[T](b[size*i:])
	}
}

// addFloats adds the i-th value of b to dst[i], len(b) == size·len(dst).
func addFloats[T float](dst []T, b []byte) {
	if len(dst) == 0 {
		return
	}
	size := unsafe.Sizeof(T(0))
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%size == 0 {
		// Aligned: the bytes are values already. The chunk encoder pads
		// headers so that this is the usual case.
		src := unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(dst))
		for i, v := range src {
			dst[i] += v
		}
		return
	}
	for i := range dst {
		dst[i] += fromWire[T](b[int(size)*i:])
	}
}
