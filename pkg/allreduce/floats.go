package allreduce

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// The wire carries float32 as little-endian IEEE 754. On a little-endian
// host that is the memory layout, so payloads move with memmove and
// aligned loads instead of per-element conversion.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf returns the memory of s as bytes, for a little-endian host.
func bytesOf(s []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
}

// appendFloats appends s to b in wire order.
func appendFloats(b []byte, s []float32) []byte {
	if littleEndian {
		return append(b, bytesOf(s)...)
	}
	for _, v := range s {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// copyFloats sets dst[i] to the i-th value of b, len(b) == 4*len(dst).
func copyFloats(dst []float32, b []byte) {
	if littleEndian {
		copy(bytesOf(dst), b)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// addFloats adds the i-th value of b to dst[i], len(b) == 4*len(dst).
func addFloats(dst []float32, b []byte) {
	if len(dst) == 0 {
		return
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		// Aligned: the bytes are float32s already. The chunk encoder pads
		// headers so that this is the usual case.
		src := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(dst))
		for i, v := range src {
			dst[i] += v
		}
		return
	}
	for i := range dst {
		dst[i] += math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
