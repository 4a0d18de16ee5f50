package nn

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/ringtrain/ringtrain/internal/blas"
)

// TestMain prints, when benchmarks run, which BLAS they use as a
// configuration line ("key: value", like goos and cpu) that benchstat keeps.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		fmt.Println("blas:", strings.TrimSpace(blas.Backend()+" "+blas.CoreType()))
	}
	os.Exit(m.Run())
}

// The benchmarked model is the issue's: 784-256-128-10, ReLU, softmax and
// categorical cross-entropy, float32, batches of 128, as PyTorch is measured.
const benchRows = 128

func benchArch(dropout float64) Architecture {
	return Architecture{
		Inputs: 784,
		Layers: []Layer{
			{Units: 256, Activation: ReLU, Dropout: dropout},
			{Units: 128, Activation: ReLU, Dropout: dropout},
			{Units: 10, Activation: Softmax},
		},
		Cost: CategoricalCrossEntropy,
		Init: He,
	}
}

// benchBatches returns count batches of rows of uniform [0,1) pixels with
// random one-hot labels. Cycling through several keeps the loss from
// collapsing as it would on one memorised batch, and the inputs out of cache
// as in real training.
func benchBatches(a Architecture, rows, count int) []Batch[float32] {
	bs := make([]Batch[float32], count)
	for i := range bs {
		bs[i] = benchBatch(a, rows, uint64(i))
	}
	return bs
}

func benchBatch(a Architecture, rows int, seed uint64) Batch[float32] {
	r := rand.New(rand.NewPCG(7, seed))
	b := Batch[float32]{
		X:     make([]float32, rows*a.Inputs),
		Y:     make([]float32, rows*a.Outputs()),
		Index: make([]int, rows),
	}
	for i := range b.X {
		b.X[i] = r.Float32()
	}
	for i := range rows {
		b.Y[i*a.Outputs()+r.IntN(a.Outputs())] = 1
		b.Index[i] = int(seed)*rows + i
	}
	return b
}

// gemm is one GEMM of a step: C (m×n) = op(A)·op(B), op(A) m×k.
type gemm struct {
	tA, tB  bool
	m, n, k int
}

// stepGemms lists the GEMMs Gradients runs: one per layer forward, one per
// layer for ∂C/∂W, one per layer but the first for δ.
func stepGemms(a Architecture, rows int) []gemm {
	var g []gemm
	in := a.Inputs
	for _, l := range a.Layers {
		g = append(g, gemm{false, true, rows, l.Units, in})
		in = l.Units
	}
	in = a.Inputs
	for i, l := range a.Layers {
		g = append(g, gemm{true, false, l.Units, in, rows})
		if i > 0 {
			g = append(g, gemm{false, false, rows, in, l.Units})
		}
		in = l.Units
	}
	return g
}

func flops(gs []gemm) float64 {
	var f float64
	for _, g := range gs {
		f += 2 * float64(g.m) * float64(g.n) * float64(g.k)
	}
	return f
}

// report adds the figures the issue asks for; perOp is the GEMM work of one
// operation on rows samples.
func report(b *testing.B, rows int, perOp float64) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*rows)/s, "samples/s")
	b.ReportMetric(perOp*float64(b.N)/s/1e9, "GFLOP/s")
}

// setThreads gives OpenBLAS as many threads as the benchmark's GOMAXPROCS, so
// that -cpu 1,2 measures one and two threads in either build.
//
// The benchmarks loop over b.N rather than use b.Loop: testing makes the
// first call of a benchmark before it applies the first -cpu value, and
// b.Loop reports that call's measurement, which would be taken at the default
// GOMAXPROCS and so with every core.
func setThreads() { blas.SetThreads(runtime.GOMAXPROCS(0)) }

// BenchmarkTrainStep is one training step: Gradients and then an inline SGD
// with momentum (v = μv + g; p −= lr·v), PyTorch's optimiser step.
func BenchmarkTrainStep(b *testing.B) { benchTrain(b, 0) }

// BenchmarkTrainStepDropout is BenchmarkTrainStep with dropout 0.2 on both
// hidden layers, to show what the masks cost.
func BenchmarkTrainStepDropout(b *testing.B) { benchTrain(b, 0.2) }

func benchTrain(b *testing.B, rate float64) {
	setThreads()
	a := benchArch(rate)
	n, err := New[float32](a)
	if err != nil {
		b.Fatal(err)
	}
	n.Initialize(1)
	ws := NewWorkspace[float32](a, benchRows)
	batches := benchBatches(a, benchRows, 8)
	g := make([]float32, n.NumParams())
	v := make([]float32, n.NumParams())
	p := n.Params()
	var r *Randomness
	if rate > 0 {
		r = &Randomness{Seed: 1}
	}
	b.ResetTimer()
	for i := range b.N {
		if r != nil {
			r.Epoch = i / len(batches)
		}
		n.Gradients(ws, batches[i%len(batches)], g, Regularization{}, r)
		blas.Scal(0.9, v)
		blas.Axpy(1, g, v)
		blas.Axpy(-0.01, v, p)
	}
	report(b, benchRows, flops(stepGemms(a, benchRows)))
}

// BenchmarkForward is inference on one batch.
func BenchmarkForward(b *testing.B) {
	setThreads()
	a := benchArch(0)
	n, err := New[float32](a)
	if err != nil {
		b.Fatal(err)
	}
	n.Initialize(1)
	ws := NewWorkspace[float32](a, benchRows)
	batches := benchBatches(a, benchRows, 8)
	b.ResetTimer()
	for i := range b.N {
		n.Forward(ws, batches[i%len(batches)].X, benchRows)
	}
	report(b, benchRows, flops(stepGemms(a, benchRows)[:len(a.Layers)]))
}

// BenchmarkGemm runs the GEMMs of a training step alone, on dense operands:
// the limit the step would reach if nothing but GEMMs took time. Its
// samples/s compared with BenchmarkTrainStep's is the share of a step spent
// in GEMM.
func BenchmarkGemm(b *testing.B) {
	setThreads()
	gs := stepGemms(benchArch(0), benchRows)
	r := rand.New(rand.NewPCG(3, 4))
	type operands struct{ a, b, c []float32 }
	ops := make([]operands, len(gs))
	for i, g := range gs {
		ops[i] = operands{make([]float32, g.m*g.k), make([]float32, g.k*g.n), make([]float32, g.m*g.n)}
		for _, s := range [][]float32{ops[i].a, ops[i].b} {
			for j := range s {
				s[j] = r.Float32()
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		for i, g := range gs {
			lda, ldb := g.k, g.n
			if g.tA {
				lda = g.m
			}
			if g.tB {
				ldb = g.k
			}
			blas.Gemm(g.tA, g.tB, g.m, g.n, g.k, 1, ops[i].a, lda, ops[i].b, ldb, 0, ops[i].c, g.n)
		}
	}
	report(b, benchRows, flops(gs))
}
