package allreduce

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// applyRef is what applyFloats promises, one value at a time: each product
// of a value and a weight or factor is the exact product rounded once to T
// (a product of two float32s is exact in float64), and so is the sum.
func applyRef[T precision.Float](d, v T, op Op) T {
	if !op.Add {
		return v
	}
	s := T(d + v)
	if op.Weigh {
		s = T(T(float64(d)*op.DstW) + T(float64(v)*op.SrcW))
	}
	if op.Scale {
		s = T(float64(s) * op.K)
	}
	return s
}

// TestApplyFloatsBits checks applyFloats, whose adds are assembly on
// amd64 (the generic loops with -tags purego), against applyRef bit for
// bit: every op training and tests use, lengths around the kernels'
// unrolling, unaligned slices, and values that need care.
func TestApplyFloatsBits(t *testing.T) {
	ops := []struct {
		name string
		op   Op
	}{
		{"copy", Op{}},
		{"add", Op{Add: true}},
		{"add-scale-exact", Op{Add: true, Scale: true, K: 0.25}},
		{"add-scale-third", Op{Add: true, Scale: true, K: 1.0 / 3}},
		{"weigh", Op{Add: true, Weigh: true, DstW: 64, SrcW: 65}},
		{"weigh-scale-exact", Op{Add: true, Weigh: true, DstW: 64, SrcW: 64, Scale: true, K: 1.0 / 128}},
		{"weigh-scale-inexact", Op{Add: true, Weigh: true, DstW: 43, SrcW: 42, Scale: true, K: 1.0 / 85}},
		{"weigh-fractional", Op{Add: true, Weigh: true, DstW: 0.3, SrcW: 0.7, Scale: true, K: 1.0 / 3}},
		{"weigh-zero", Op{Add: true, Weigh: true, DstW: 0, SrcW: 5}},
	}
	for _, o := range ops {
		t.Run(o.name+"/float32", func(t *testing.T) { checkApply[float32](t, o.op) })
		t.Run(o.name+"/float64", func(t *testing.T) { checkApply[float64](t, o.op) })
	}
}

func checkApply[T precision.Float](t *testing.T, op Op) {
	rng := rand.New(rand.NewPCG(1, 2))
	special := []T{0, T(math.Copysign(0, -1)), 1, -1, T(math.Inf(1)), T(math.Inf(-1)), T(math.NaN()),
		T(math.SmallestNonzeroFloat32), T(-math.SmallestNonzeroFloat32), T(math.MaxFloat32), T(1e-39), T(3e38)}
	value := func() T {
		if rng.IntN(8) == 0 {
			return special[rng.IntN(len(special))]
		}
		return T(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-20)))
	}
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1 << 16}
	for _, n := range lengths {
		for off := range 4 {
			dst, src := make([]T, n+off+1), make([]T, n+off+1)
			for i := range dst {
				dst[i], src[i] = value(), value()
			}
			want := make([]T, len(dst))
			copy(want, dst)
			for i := off; i < off+n; i++ {
				want[i] = applyRef(dst[i], src[i], op)
			}
			applyFloats(dst[off:off+n], src[off:off+n], op)
			for i := range dst {
				if !sameBits(dst[i], want[i]) {
					t.Fatalf("n=%d offset %d: value %d is %v, want %v (%s)", n, off, i-off, dst[i], want[i], fmt.Sprint(op))
				}
			}
		}
	}
}

// TestScaleAddShortDst checks that the kernels never write past dst: a
// destination shorter than the source panics, as a Go loop would, before
// any value is written.
func TestScaleAddShortDst(t *testing.T) {
	for _, k64 := range []bool{false, true} {
		buf := make([]float32, 16)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("k64=%v: no panic with 8 destination values for 9 sources", k64)
				}
			}()
			if k64 {
				scaleAddK64(buf[:8:8], buf[:9], 1, 1, 1.0/3)
			} else {
				scaleAdd(buf[:8:8], buf[:9], 1, 1, 1)
			}
		}()
	}
}

// sameBits reports whether a and b are the same value; any NaN is the
// same as any other.
func sameBits[T precision.Float](a, b T) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
}

// BenchmarkApplyFloats times the adds of a reduce-scatter step on float32:
// a 256 KiB chunk (the default) into a segment, in cache, and 8 MB, out
// of it; plain, weighted and scaled as training's N=2 calls are (exact
// factors), and with a factor that is not a float32 (1/129). MB/s counts
// the destination's bytes.
func BenchmarkApplyFloats(b *testing.B) {
	ops := []struct {
		name string
		op   Op
	}{
		{"add", Op{Add: true}},
		{"weigh-scale", Op{Add: true, Weigh: true, DstW: 64, SrcW: 64, Scale: true, K: 1.0 / 128}},
		{"weigh-scale-f64", Op{Add: true, Weigh: true, DstW: 64, SrcW: 65, Scale: true, K: 1.0 / 129}},
	}
	for _, size := range []struct {
		name  string
		elems int
	}{{"256KiB", DefaultChunkBytes / 4}, {"8MB", 2 << 20}} {
		dst, src := make([]float32, size.elems), make([]float32, size.elems)
		for i := range dst {
			dst[i], src[i] = float32(i%7)*0.25, float32(i%5)*0.5
		}
		for _, o := range ops {
			b.Run(size.name+"/"+o.name, func(b *testing.B) {
				b.SetBytes(int64(4 * size.elems))
				for b.Loop() {
					applyFloats(dst, src, o.op)
				}
			})
		}
	}
}
