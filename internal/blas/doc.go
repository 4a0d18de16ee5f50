// Package blas is ringtrain's thin, row-major, generic front to BLAS: a GEMM,
// a GEMV and the few level-1 routines the training engine needs, over float32
// and float64.
//
// By default it runs gonum's pure-Go BLAS, so CGO_ENABLED=0 builds work; the
// GEMM is cut into tiles that gonum computes serially and that this package
// spreads over up to GOMAXPROCS goroutines without allocating. Built with the
// openblas tag it hands every call to OpenBLAS through gonum.org/v1/netlib
// (link with -lopenblas, which the tagged file asks cgo for).
//
// It knows nothing of neural networks: callers pass plain slices and strides.
package blas
