package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// naive is the reference C = alpha·op(A)·op(B) + beta·C in float64.
func naive(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				ia, ib := i*lda+l, l*ldb+j
				if tA {
					ia = l*lda + i
				}
				if tB {
					ib = j*ldb + l
				}
				av, bv := a[ia], b[ib]
				s += av * bv
			}
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64()
	}
	return s
}

func convert[T Float](s []float64) []T {
	d := make([]T, len(s))
	for i, v := range s {
		d[i] = T(v)
	}
	return d
}

func checkGemm[T Float](t *testing.T, tol float64) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {64, 192, 64}, {65, 193, 130}, {128, 256, 100}, {300, 70, 9}, {10, 500, 3},
	}
	for _, sh := range shapes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float64{0, 1, -0.5} {
					m, n, k := sh.m, sh.n, sh.k
					lda, ldb, ldc := k+1, n+2, n+3
					if tA {
						lda = m + 1
					}
					if tB {
						ldb = k + 2
					}
					// Slices are as short as BLAS allows, so that a tile
					// reaching past the end panics.
					ar, ac, br, bc := m, k, k, n
					if tA {
						ar, ac = k, m
					}
					if tB {
						br, bc = n, k
					}
					a := randSlice(r, (ar-1)*lda+ac)
					b := randSlice(r, (br-1)*ldb+bc)
					c := randSlice(r, (m-1)*ldc+n)
					want := append([]float64(nil), c...)
					naive(tA, tB, m, n, k, 0.75, a, lda, b, ldb, beta, want, ldc)
					got := convert[T](c)
					Gemm(tA, tB, m, n, k, T(0.75), convert[T](a), lda, convert[T](b), ldb, T(beta), got, ldc)
					for i := range m {
						for j := range n {
							g, w := float64(got[i*ldc+j]), want[i*ldc+j]
							if math.Abs(g-w) > tol*(1+math.Sqrt(float64(k))) {
								t.Fatalf("%dx%dx%d tA=%v tB=%v beta=%v: C[%d,%d] got %v want %v", m, n, k, tA, tB, beta, i, j, g, w)
							}
						}
						for j := n; j < ldc && i < m-1; j++ { // padding is untouched
							if float64(got[i*ldc+j]) != float64(T(c[i*ldc+j])) {
								t.Fatalf("%dx%dx%d: padding C[%d,%d] changed", m, n, k, i, j)
							}
						}
					}
				}
			}
		}
	}
}

// myFloat checks that named float types reach the right BLAS routine.
type myFloat float32

func TestGemm(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			t.Run("float32", func(t *testing.T) { checkGemm[float32](t, 1e-4) })
			t.Run("float64", func(t *testing.T) { checkGemm[float64](t, 1e-12) })
			t.Run("named float32", func(t *testing.T) { checkGemm[myFloat](t, 1e-4) })
		})
	}
}
