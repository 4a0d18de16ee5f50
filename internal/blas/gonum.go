//go:build !openblas

package blas

import (
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// Backend names the BLAS in use: "gonum" in this build.
func Backend() string { return "gonum" }

// SetThreads does nothing in the pure-Go build: a GEMM runs on up to
// GOMAXPROCS goroutines.
func SetThreads(int) {}

// CoreType returns "" in the pure-Go build, which has no kernel choice.
func CoreType() string { return "" }

// Tile sizes of C. gonum computes a call serially when C spans fewer than
// four of its 64×64 blocks, and otherwise starts goroutines and allocates;
// 64×192 tiles keep every call we make on the serial path, and the tiles are
// what we spread over goroutines ourselves. On the large GEMMs of a training
// step they run 1.3–1.75× faster than one gonum call on the whole matrix
// (which takes its parallel path even on one core), and as fast on the small
// ones; 64×64 tiles, 192×64, 128×128 and blocking along k were slower.
const (
	tileM = 64
	tileN = 192
)

func gemm32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		// Nothing to tile; gonum checks the arguments and scales C.
		gonum.Implementation{}.Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	g := tiles[float32]{tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	if !parallel(m, n, k) {
		g.all()
		return
	}
	if !par.mu.TryLock() {
		// Another goroutine's GEMM has the helpers, and the cores.
		g.all()
		return
	}
	par.t32 = g
	par.run(true, g.count())
	par.t32 = tiles[float32]{} // drop the caller's slices
	par.mu.Unlock()
}

func gemm64(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		gonum.Implementation{}.Dgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	g := tiles[float64]{tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	if !parallel(m, n, k) {
		g.all()
		return
	}
	if !par.mu.TryLock() {
		g.all()
		return
	}
	par.t64 = g
	par.run(false, g.count())
	par.t64 = tiles[float64]{}
	par.mu.Unlock()
}

// tiles is one GEMM cut into tileM×tileN blocks of C, each computed by one
// serial gonum call, so blocks are independent.
type tiles[T Float] struct {
	tA, tB  bool
	m, n, k int
	alpha   T
	a       []T
	lda     int
	b       []T
	ldb     int
	beta    T
	c       []T
	ldc     int
}

func (g *tiles[T]) cols() int  { return (g.n + tileN - 1) / tileN }
func (g *tiles[T]) count() int { return (g.m + tileM - 1) / tileM * g.cols() }

func (g *tiles[T]) all() {
	for t := range g.count() {
		g.tile(t)
	}
}

func (g *tiles[T]) tile(t int) {
	i, j := t/g.cols()*tileM, t%g.cols()*tileN
	var a, b []T
	if g.tA {
		a = g.a[i:]
	} else {
		a = g.a[i*g.lda:]
	}
	if g.tB {
		b = g.b[j*g.ldb:]
	} else {
		b = g.b[j:]
	}
	c := g.c[i*g.ldc+j:]
	m, n, tA, tB := min(tileM, g.m-i), min(tileN, g.n-j), trans(g.tA), trans(g.tB)
	if precision.Is32[T]() {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, g.k, float32(g.alpha), precision.AsFloat32(a), g.lda, precision.AsFloat32(b), g.ldb, float32(g.beta), precision.AsFloat32(c), g.ldc)
	} else {
		gonum.Implementation{}.Dgemm(tA, tB, m, n, g.k, float64(g.alpha), precision.AsFloat64(a), g.lda, precision.AsFloat64(b), g.ldb, float64(g.beta), precision.AsFloat64(c), g.ldc)
	}
}

// parallelFlops is the work below which spreading tiles over goroutines
// costs more than it saves.
const parallelFlops = 1 << 20

// parallel reports whether a GEMM is worth the helpers' start-up.
func parallel(m, n, k int) bool {
	return runtime.GOMAXPROCS(0) > 1 && 2*m*n*k >= parallelFlops && (m > tileM || n > tileN)
}

// runner spreads the tiles of one GEMM at a time over short-lived goroutines
// that take tile numbers from a shared counter. It lives in a package
// variable and its helpers are plain functions, so a parallel GEMM allocates
// nothing once the runtime has exited goroutines to reuse; and no goroutine
// outlives the call.
type runner struct {
	mu    sync.Mutex // held by the one GEMM using the helpers
	wg    sync.WaitGroup
	next  atomic.Int64
	count int64
	is32  bool
	t32   tiles[float32]
	t64   tiles[float64]
}

var par runner

// run computes the tiles of par.t32 or par.t64 on the caller and up to
// GOMAXPROCS-1 helpers. The caller holds par.mu.
func (p *runner) run(is32 bool, count int) {
	p.is32, p.count = is32, int64(count)
	p.next.Store(0)
	helpers := min(runtime.GOMAXPROCS(0), count) - 1
	p.wg.Add(helpers)
	for range helpers {
		go help()
	}
	p.work()
	p.wg.Wait()
}

func help() {
	par.work()
	par.wg.Done()
}

func (p *runner) work() {
	for {
		t := p.next.Add(1) - 1
		if t >= p.count {
			return
		}
		if p.is32 {
			p.t32.tile(int(t))
		} else {
			p.t64.tile(int(t))
		}
	}
}
