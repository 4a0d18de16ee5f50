package blas

import (
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// Float is the element type of every routine here.
type Float = precision.Float

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ as transA and transB say, op(A) is m×k, op(B) is k×n and C
// is m×n. It panics, as gonum does, on impossible shapes or short slices.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if precision.Is32[T]() {
		gemm32(transA, transB, m, n, k, float32(alpha), precision.AsFloat32(a), lda, precision.AsFloat32(b), ldb, float32(beta), precision.AsFloat32(c), ldc)
		return
	}
	gemm64(transA, transB, m, n, k, float64(alpha), precision.AsFloat64(a), lda, precision.AsFloat64(b), ldb, float64(beta), precision.AsFloat64(c), ldc)
}

// Gemv computes y = alpha·op(A)·x + beta·y for a row-major m×n matrix A.
func Gemv[T Float](transA bool, m, n int, alpha T, a []T, lda int, x []T, beta T, y []T) {
	if precision.Is32[T]() {
		blas32.Implementation().Sgemv(trans(transA), m, n, float32(alpha), precision.AsFloat32(a), lda, precision.AsFloat32(x), 1, float32(beta), precision.AsFloat32(y), 1)
		return
	}
	blas64.Implementation().Dgemv(trans(transA), m, n, float64(alpha), precision.AsFloat64(a), lda, precision.AsFloat64(x), 1, float64(beta), precision.AsFloat64(y), 1)
}

// Axpy computes y += alpha·x over len(x) elements.
func Axpy[T Float](alpha T, x, y []T) {
	if precision.Is32[T]() {
		blas32.Implementation().Saxpy(len(x), float32(alpha), precision.AsFloat32(x), 1, precision.AsFloat32(y), 1)
		return
	}
	blas64.Implementation().Daxpy(len(x), float64(alpha), precision.AsFloat64(x), 1, precision.AsFloat64(y), 1)
}

// Scal computes x *= alpha.
func Scal[T Float](alpha T, x []T) {
	if precision.Is32[T]() {
		blas32.Implementation().Sscal(len(x), float32(alpha), precision.AsFloat32(x), 1)
		return
	}
	blas64.Implementation().Dscal(len(x), float64(alpha), precision.AsFloat64(x), 1)
}

// Dot returns x·y over len(x) elements, accumulated in float64 for float32
// inputs so that a loss summed over many parameters keeps its precision.
func Dot[T Float](x, y []T) float64 {
	if precision.Is32[T]() {
		return float64(blas32.Implementation().Dsdot(len(x), precision.AsFloat32(x), 1, precision.AsFloat32(y), 1))
	}
	return blas64.Implementation().Ddot(len(x), precision.AsFloat64(x), 1, precision.AsFloat64(y), 1)
}

// Asum returns Σ|x_i|.
func Asum[T Float](x []T) float64 {
	if precision.Is32[T]() {
		return float64(blas32.Implementation().Sasum(len(x), precision.AsFloat32(x), 1))
	}
	return blas64.Implementation().Dasum(len(x), precision.AsFloat64(x), 1)
}

func trans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}
