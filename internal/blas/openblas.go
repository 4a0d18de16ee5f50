//go:build openblas

package blas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
// char* openblas_get_corename(void);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// Swapping the implementations at init makes every blas32/blas64 call in the
// binary, ours and gonum/mat's alike, go to OpenBLAS.
func init() {
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
}

// Backend names the BLAS in use: "openblas" in this build.
func Backend() string { return "openblas" }

// SetThreads sets the number of threads OpenBLAS uses for one call; n < 1
// means 1. OpenBLAS threads are outside the Go scheduler, so match n to the
// cores left to this process.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }

// CoreType returns the kernel set OpenBLAS uses, as the OPENBLAS_CORETYPE
// environment variable names them: "Haswell" for AVX2, "SkylakeX" or
// "Cooperlake" for AVX-512, and so on. OpenBLAS picks it from the CPU when the
// library loads, unless OPENBLAS_CORETYPE forces one; it matters more than any
// other setting (here: 110 GFLOP/s with Haswell, 180–200 with Cooperlake).
func CoreType() string { return C.GoString(C.openblas_get_corename()) }

func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas32.Implementation().Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemm64(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	blas64.Implementation().Dgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
