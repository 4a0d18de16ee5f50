package allreduce

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/ringtrain/ringtrain/pkg/precision"
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
// names. It is the one place where the two precisions meet:
// AllReduceWeighted makes one of a []T, once a call (valuesOf), and the
// arithmetic and the transports' codecs take it from there.
type Values struct {
	F32 []float32
	F64 []float64
}

// valuesOf returns buf as Values, and their precision.
func valuesOf[T precision.Float](buf []T) (Values, Precision) {
	if precision.Is32[T]() {
		return Values{F32: precision.AsFloat32(buf)}, Float32
	}
	return Values{F64: precision.AsFloat64(buf)}, Float64
}

// Len returns the number of values.
func (v Values) Len() int { return len(v.F32) + len(v.F64) }

// WireBytes returns the memory of v when it is already the wire's bytes
// (little-endian IEEE 754, as on every host ringtrain is built for), so
// that a transport can write or read it without a copy; false otherwise.
func (v Values) WireBytes() ([]byte, bool) { return wireBytes(v) }

// AppendWire appends v to b in wire order.
func (v Values) AppendWire(b []byte) []byte { return appendValues(b, v) }

// ApplyWire applies op to v with the wire values in b, which holds v.Len()
// values of v's precision: what a transport does with a received payload.
func (v Values) ApplyWire(b []byte, op Op) {
	if v.F64 != nil {
		placeBytes(v.F64, b, op)
		return
	}
	placeBytes(v.F32, b, op)
}

// Slice returns the values lo to hi.
func (v Values) Slice(lo, hi int) Values {
	if v.F64 != nil {
		return Values{F64: v.F64[lo:hi]}
	}
	return Values{F32: v.F32[lo:hi]}
}

// Apply applies op to v with the values of src, of the same precision
// and length.
func (v Values) Apply(src Values, op Op) {
	if v.F64 != nil {
		applyFloats(v.F64, src.F64, op)
		return
	}
	applyFloats(v.F32, src.F32, op)
}

// applyFloats applies op to dst with the values of src.
//
// Each product is rounded once, to T. A weight or factor that is a T is
// multiplied in T; any other in float64, and the product then rounded: the
// product of two float32s is exact in float64, so both give the rounded
// exact product, and fusing products into the adds changes no bits.
// Integer weights (rows) and any factor take one pass of scaleadd's
// kernels; fractional weights, which training does not use, a scalar loop.
func applyFloats[T precision.Float](dst, src []T, op Op) {
	if !op.Add {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	wd, ws, k := T(1), T(1), T(1)
	exact := true
	if op.Weigh {
		var dOK, sOK bool
		wd, dOK = asT[T](op.DstW)
		ws, sOK = asT[T](op.SrcW)
		exact = dOK && sOK
	}
	if !exact {
		weighInFloat64(dst, src, op)
		return
	}
	if op.Scale {
		k, exact = asT[T](op.K)
	}
	if exact {
		scaleAdd(dst, src, wd, ws, k)
		return
	}
	// A mean over 3 members, or a weighted one whose weights do not sum
	// to a power of two.
	scaleAddK64(dst, src, wd, ws, op.K)
}

// asT returns k as a T, and whether that is exact.
func asT[T precision.Float](k float64) (T, bool) {
	kt := T(k)
	return kt, float64(kt) == k
}

// weighInFloat64 is applyFloats' weighted add for weights that are not
// values of T: fractional weights, which training does not use.
func weighInFloat64[T precision.Float](dst, src []T, op Op) {
	k := 1.0
	if op.Scale {
		k = op.K
	}
	for i, v := range src {
		s := T(T(float64(dst[i])*op.DstW) + T(float64(v)*op.SrcW))
		dst[i] = T(float64(s) * k)
	}
}

// The wire carries values as little-endian IEEE 754. On a little-endian
// host that is the memory layout, so payloads move with memmove and
// aligned loads instead of per-element conversion.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf returns the memory of s as bytes, for a little-endian host.
func bytesOf[T precision.Float](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), int(unsafe.Sizeof(T(0)))*len(s))
}

// fromWire decodes one little-endian value from the start of b.
func fromWire[T precision.Float](b []byte) T {
	if unsafe.Sizeof(T(0)) == 8 {
		return T(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	return T(math.Float32frombits(binary.LittleEndian.Uint32(b)))
}

// wireBytes returns the memory of v, if it is already in wire order.
func wireBytes(v Values) ([]byte, bool) {
	switch {
	case !littleEndian:
		return nil, false
	case v.F64 != nil:
		return bytesOf(v.F64), true
	}
	return bytesOf(v.F32), true
}

// appendValues appends v to b in wire order.
func appendValues(b []byte, v Values) []byte {
	if v.F64 != nil {
		return appendFloats(b, v.F64)
	}
	return appendFloats(b, v.F32)
}

func appendFloats[T precision.Float](b []byte, s []T) []byte {
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

// placeBytes applies op to dst with the wire values in b,
// len(b) == size·len(dst).
func placeBytes[T precision.Float](dst []T, b []byte, op Op) {
	if len(dst) == 0 {
		return
	}
	size := int(unsafe.Sizeof(T(0)))
	if littleEndian && (!op.Add || uintptr(unsafe.Pointer(&b[0]))%uintptr(size) == 0) {
		// The bytes are values already, aligned for arithmetic (the chunk
		// encoder pads headers so that this is the usual case) or only
		// copied.
		if !op.Add {
			copy(bytesOf(dst), b)
			return
		}
		applyFloats(dst, unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(dst)), op)
		return
	}
	var tmp [256]T
	for len(dst) > 0 {
		n := min(len(dst), len(tmp))
		for i := range n {
			tmp[i] = fromWire[T](b[size*i:])
		}
		applyFloats(dst[:n], tmp[:n], op)
		dst, b = dst[n:], b[size*n:]
	}
}
