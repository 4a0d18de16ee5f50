package blas

import (
	"fmt"
	"math"
	"runtime"
	"testing"
)

func TestBackend(t *testing.T) {
	if b := Backend(); b != "gonum" && b != "openblas" {
		t.Errorf("Backend() = %q, want gonum or openblas", b)
	}
	SetThreads(1) // must not fail in either build
	if (Backend() == "openblas") != (CoreType() != "") {
		t.Errorf("backend %q with core type %q", Backend(), CoreType())
	}
}

func TestLevel1And2(t *testing.T) {
	t.Run("float32", func(t *testing.T) { checkLevel1And2[float32](t) })
	t.Run("float64", func(t *testing.T) { checkLevel1And2[float64](t) })
}

func checkLevel1And2[T Float](t *testing.T) {
	x := []T{1, -2, 3}
	y := []T{4, 5, -6}
	if got := Dot(x, y); got != 4-10-18 {
		t.Errorf("Dot: got %v want -24", got)
	}
	if got := Asum(x); got != 6 {
		t.Errorf("Asum: got %v want 6", got)
	}
	Axpy(2, x, y) // y = {6, 1, 0}
	Scal(0.5, y)  // y = {3, 0.5, 0}
	if y[0] != 3 || y[1] != 0.5 || y[2] != 0 {
		t.Errorf("Axpy then Scal: got %v want [3 0.5 0]", y)
	}
	// A is 2×3; Aᵀ·x sums its rows scaled by x.
	a := []T{1, 2, 3, 4, 5, 6}
	v := []T{1, 10}
	out := []T{100, 100, 100}
	Gemv(true, 2, 3, 1, a, 3, v, 0, out)
	if out[0] != 41 || out[1] != 52 || out[2] != 63 {
		t.Errorf("Gemv(Aᵀ): got %v want [41 52 63]", out)
	}
	out = out[:2]
	Gemv(false, 2, 3, 2, a, 3, []T{1, 0, -1}, 1, out)
	if out[0] != 41-4 || out[1] != 52-4 {
		t.Errorf("Gemv(A): got %v want [37 48]", out)
	}
}

// TestGemmNoAllocations covers the tiled GEMM on one goroutine and spread
// over two: a training step must not allocate.
func TestGemmNoAllocations(t *testing.T) {
	m, n, k := 128, 256, 300
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(math.Sin(float64(i)))
	}
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			if allocs := testing.AllocsPerRun(10, func() { Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }); allocs != 0 {
				t.Errorf("%v allocations per Gemm, want 0", allocs)
			}
		})
	}
}

// TestConcurrentGemm runs GEMMs from several goroutines at once: one gets
// the helpers, the others compute on their own, and all must be right.
func TestConcurrentGemm(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const m, n, k = 130, 200, 70
	done := make(chan error)
	for g := range 4 {
		go func() {
			a, b := make([]float64, m*k), make([]float64, k*n)
			for i := range a {
				a[i] = float64(g + i%5)
			}
			for i := range b {
				b[i] = float64(i % 3)
			}
			want := make([]float64, m*n)
			naive(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
			for range 20 {
				c := make([]float64, m*n)
				Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if c[i] != want[i] {
						done <- fmt.Errorf("goroutine %d: C[%d] got %v want %v", g, i, c[i], want[i])
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
