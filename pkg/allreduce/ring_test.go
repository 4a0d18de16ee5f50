package allreduce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// unit returns the unit roundoff of T and its smallest subnormal.
func unit[T precision.Float]() (u, tiny float64) {
	if unsafe.Sizeof(T(0)) == 8 {
		return 0x1p-53, 0x1p-1074
	}
	return 0x1p-24, 0x1p-149
}

// gamma is Higham's γ_k = k·u / (1 − k·u), the bound on the relative error
// of k successive additions or multiplications with unit roundoff u.
func gamma(k int, u float64) float64 { return float64(k) * u / (1 - float64(k)*u) }

// weightedMean returns, for element i, the weighted mean of the members'
// values and the bound on the ring's error: a member's value is scaled once
// (one rounding), summed with N−1 additions in T and divided once, so
//
//	|got − mean| ≤ γ_N · Σ|wₖxₖ| / Σwₖ + u·|mean| + tiny
//
// the last term for results in T's subnormal range. The mean is summed
// with Neumaier's compensation, so that for float64 its own error, which
// the bound allows for with another 2u·|mean|, stays far below the ring's.
func weightedMean[T precision.Float](bufs [][]T, weights []float64, i int) (mean, bound float64) {
	var sum, comp, abs, wsum float64
	for k, b := range bufs {
		w := 1.0
		if weights != nil {
			w = weights[k]
		}
		v := w * float64(b[i])
		t := sum + v
		if max(sum, -sum) >= max(v, -v) {
			comp += (sum - t) + v
		} else {
			comp += (v - t) + sum
		}
		sum = t
		abs += max(v, -v) // not math.Abs: under -race, checkptr makes it slow
		wsum += w
	}
	if wsum == 0 {
		return 0, 0
	}
	u, tiny := unit[T]()
	mean = (sum + comp) / wsum
	return mean, gamma(len(bufs), u)*abs/wsum + 3*u*max(mean, -mean) + tiny
}

// hardValues fills b with values whose sums need care: magnitudes from
// 1e-7 to 1e7, either sign, so that sums cancel and small terms are lost.
func hardValues(r *rand.Rand, b []float32) {
	mags := []float64{1e-7, 1e-3, 1, 3e3, 1e7}
	for i := range b {
		v := mags[r.IntN(len(mags))] * (0.5 + r.Float64())
		if r.IntN(2) == 0 {
			v = -v
		}
		b[i] = float32(v)
	}
}

// checkMean checks that every member holds the same bits and that they are
// within the bound of the exact weighted mean of inputs.
func checkMean[T precision.Float](t *testing.T, name string, inputs, got [][]T, weights []float64) {
	t.Helper()
	for k := 1; k < len(got); k++ {
		if bytes.Equal(bytesOf(got[k]), bytesOf(got[0])) {
			continue
		}
		for i := range got[0] {
			if !bytes.Equal(bytesOf(got[k][i:i+1]), bytesOf(got[0][i:i+1])) {
				t.Fatalf("%s: element %d: member %d has %v, member 0 has %v: want identical bits", name, i, k, got[k][i], got[0][i])
			}
		}
	}
	for i := range got[0] {
		mean, bound := weightedMean(inputs, weights, i)
		if d := float64(got[0][i]) - mean; !(max(d, -d) <= bound) {
			t.Fatalf("%s: element %d: got %v want %v ± %.3g (off by %.3g)", name, i, got[0][i], mean, bound, d)
		}
	}
}

func clone[T precision.Float](bufs [][]T) [][]T {
	out := make([][]T, len(bufs))
	for i, b := range bufs {
		out[i] = append([]T(nil), b...)
	}
	return out
}

func addrs(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = fmt.Sprintf("member-%d", i)
	}
	return a
}

func memRings(t *testing.T, net TestNetwork, job string, gen uint64, n int, opts ...Option) []*Ring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]Option{WithLogger(quiet)}, opts...)
	rings, err := FormRings(ctx, Transports(net, n), job, gen, addrs(n), opts...)
	if err != nil {
		t.Fatalf("form %d rings: %v", n, err)
	}
	t.Cleanup(func() {
		for _, r := range rings {
			r.Close()
		}
	})
	return rings
}

func randomBufs(seed uint64, n, size int) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	bufs := make([][]float32, n)
	for i := range bufs {
		bufs[i] = make([]float32, size)
		hardValues(r, bufs[i])
	}
	return bufs
}

func TestAllReduceMean(t *testing.T) {
	for n := 1; n <= 8; n++ {
		sizes := []int{0, 1, n - 1, 7*n + 3, 1000, 1_000_000}
		for _, chunk := range []int{12, DefaultChunkBytes} {
			net := newNetwork(uint64(n))
			rings := memRings(t, net, "mean", 1, n, WithChunkBytes(chunk))
			for _, size := range sizes {
				if chunk == 12 && size > 1000 {
					continue // millions of 3-element frames would test nothing more
				}
				name := fmt.Sprintf("N=%d chunk=%d size=%d", n, chunk, size)
				inputs := randomBufs(uint64(size), n, size)
				got := clone(inputs)
				for k, err := range AllReduceAll(context.Background(), rings, got, nil) {
					if err != nil {
						t.Fatalf("%s: member %d: %v", name, k, err)
					}
				}
				checkMean(t, name, inputs, got, nil)
			}
		}
	}
}

// randomBufs64 is randomBufs in float64, with magnitudes from 1e-200 to
// 1e200: sums that float32 could not even hold.
func randomBufs64(seed uint64, n, size int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 2))
	mags := []float64{1e-200, 1e-7, 1, 1e7, 1e200}
	bufs := make([][]float64, n)
	for i := range bufs {
		bufs[i] = make([]float64, size)
		for j := range bufs[i] {
			v := mags[r.IntN(len(mags))] * (0.5 + r.Float64())
			if r.IntN(2) == 0 {
				v = -v
			}
			bufs[i][j] = v
		}
	}
	return bufs
}

func TestAllReduce64(t *testing.T) {
	for n := 1; n <= 8; n++ {
		for _, chunk := range []int{24, DefaultChunkBytes} {
			rings := memRings(t, newNetwork(uint64(n)), "mean64", 1, n, WithChunkBytes(chunk))
			for _, size := range []int{0, 1, n - 1, 7*n + 3, 1000, 300_000} {
				if chunk == 24 && size > 1000 {
					continue
				}
				for _, weighted := range []bool{false, true} {
					var weights []float64
					if weighted {
						for i := range n {
							weights = append(weights, float64(i*37%11)+0.25)
						}
					}
					name := fmt.Sprintf("N=%d chunk=%d size=%d weighted=%v", n, chunk, size, weighted)
					inputs := randomBufs64(uint64(size), n, size)
					got := clone(inputs)
					for k, err := range AllReduceAll(context.Background(), rings, got, weights) {
						if err != nil {
							t.Fatalf("%s: member %d: %v", name, k, err)
						}
					}
					checkMean(t, name, inputs, got, weights)
				}
			}
		}
	}
}

func TestAllReduceWeighted(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8} {
		net := newNetwork(7)
		rings := memRings(t, net, "weighted", 1, n, WithChunkBytes(64))
		weights := make([]float64, n)
		for i := range weights {
			weights[i] = float64(i*37%11) + 0.25 // one weight, for n = 1, is not 1
		}
		if n > 2 {
			weights[1] = 0 // a member with an empty micro-batch
		}
		for _, size := range []int{0, 1, n - 1, 1001} {
			name := fmt.Sprintf("N=%d size=%d", n, size)
			inputs := randomBufs(uint64(size)+3, n, size)
			got := clone(inputs)
			for k, err := range AllReduceAll(context.Background(), rings, got, weights) {
				if err != nil {
					t.Fatalf("%s: member %d: %v", name, k, err)
				}
			}
			if n == 1 {
				// The weighted mean of one buffer is that buffer, exactly.
				for i := range got[0] {
					if got[0][i] != inputs[0][i] {
						t.Fatalf("%s: element %d: got %v want %v", name, i, got[0][i], inputs[0][i])
					}
				}
				continue
			}
			checkMean(t, name, inputs, got, weights)
		}
	}
}

func TestAllReduceZeroWeights(t *testing.T) {
	rings := memRings(t, newNetwork(1), "zero", 1, 3)
	bufs := randomBufs(1, 3, 10)
	for k, err := range AllReduceAll(context.Background(), rings, bufs, []float64{0, 0, 0}) {
		if err != nil {
			t.Fatalf("member %d: %v", k, err)
		}
	}
	for k, b := range bufs {
		for i, v := range b {
			if v != 0 {
				t.Fatalf("member %d element %d: got %v want 0", k, i, v)
			}
		}
	}
}

func TestAllReduceBadWeight(t *testing.T) {
	rings := memRings(t, newNetwork(1), "bad", 1, 2)
	for _, w := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := AllReduceWeighted(context.Background(), rings[0], []float32{1}, w); !errors.Is(err, ErrWeight) {
			t.Errorf("weight %v: got %v want ErrWeight", w, err)
		}
	}
	// Nothing was sent: the ring still works.
	bufs := [][]float32{{1}, {3}}
	for k, err := range AllReduceAll(context.Background(), rings, bufs, nil) {
		if err != nil || bufs[k][0] != 2 {
			t.Fatalf("member %d after bad weights: got %v, %v want 2, nil", k, bufs[k][0], err)
		}
	}
}

// TestAllReduceDelays runs successive calls of changing sizes over a
// network that delays every frame at random.
func TestAllReduceDelays(t *testing.T) {
	net := newNetwork(42)
	net.SetDelay(0, 200*time.Microsecond)
	const n = 5
	rings := memRings(t, net, "delays", 1, n, WithChunkBytes(256))
	for call, size := range []int{5000, 3, 0, 777, 5000} {
		inputs := randomBufs(uint64(call), n, size)
		got := clone(inputs)
		for k, err := range AllReduceAll(context.Background(), rings, got, nil) {
			if err != nil {
				t.Fatalf("call %d: member %d: %v", call, k, err)
			}
		}
		checkMean(t, fmt.Sprintf("call %d", call), inputs, got, nil)
	}
}

func TestSchedule(t *testing.T) {
	for n := 1; n <= 8; n++ {
		for _, size := range []int{0, 1, n - 1, n, 7*n + 3, 4097} {
			for _, chunkElems := range []int{1, 3, 1024} {
				name := fmt.Sprintf("N=%d size=%d chunk=%d", n, size, chunkElems)
				scheds := make([]schedule, n)
				for r := range scheds {
					scheds[r] = newSchedule(size, n, r, chunkElems)
				}
				// What a member sends is what its successor expects.
				for k := range scheds[0].frames() {
					for r, p := range scheds {
						slo, shi := p.sendRange(k)
						rlo, rhi := scheds[(r+1)%n].recvRange(k)
						if slo != rlo || shi != rhi {
							t.Fatalf("%s: frame %d: rank %d sends [%d,%d), rank %d expects [%d,%d)", name, k, r, slo, shi, (r+1)%n, rlo, rhi)
						}
						if shi-slo > chunkElems {
							t.Fatalf("%s: frame %d has %d elements", name, k, shi-slo)
						}
					}
				}
				// Rank 0 receives, once each, every element but those of
				// segment 0 in the reduce-scatter, and every element but
				// those of the segment it owns, 1, in the all-gather.
				p := scheds[0]
				counts := make([][2]int, size)
				for k := range p.frames() {
					lo, hi := p.recvRange(k)
					phase := 0
					if !p.reducing(k / p.chunks) {
						phase = 1
					}
					for i := lo; i < hi; i++ {
						counts[i][phase]++
					}
				}
				seg0, _ := p.chunk(0, 0)
				_, seg0end := p.chunk(0, p.chunks-1)
				seg1, _ := p.chunk(1%n, 0)
				_, seg1end := p.chunk(1%n, p.chunks-1)
				for i, c := range counts {
					want := [2]int{1, 1}
					if i >= seg0 && i < seg0end || n == 1 {
						want[0] = 0
					}
					if i >= seg1 && i < seg1end || n == 1 {
						want[1] = 0
					}
					if c != want {
						t.Fatalf("%s: element %d received %v times, want %v", name, i, c, want)
					}
				}
			}
		}
	}
}
