package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ringtrain/ringtrain/internal/shard"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/memnet"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

func TestPlanBuckets(t *testing.T) {
	small := []int{0, 200960, 233856, 235146}   // 784-256-128-10
	large := []int{0, 803840, 1853440, 1863690} // 784-1024-1024-10
	tiny := []int{0, 5, 7, 11}                  // 4-1-1-2
	tests := []struct {
		offsets          []int
		elem, bucketSize int
		want             []span
	}{
		{small, 4, 0, []span{{0, 235147}}},
		{small, 4, -1, []span{{0, 235147}}},
		{small, 4, 1, []span{{233856, 235147}, {200960, 233856}, {0, 200960}}},
		{small, 4, 128 << 10, []span{{200960, 235147}, {0, 200960}}},
		{small, 8, 128 << 10, []span{{200960, 235147}, {0, 200960}}},
		{small, 4, DefaultBucketBytes, []span{{0, 235147}}},
		{small, 4, 1 << 20, []span{{0, 235147}}},
		{large, 4, DefaultBucketBytes, []span{{803840, 1863691}, {0, 803840}}},
		{large, 4, 4 << 20, []span{{803840, 1863691}, {0, 803840}}},
		{large, 8, 16 << 20, []span{{0, 1863691}}},
		{large, 8, 1, []span{{1853440, 1863691}, {803840, 1853440}, {0, 803840}}},
		// The loss counts towards the first bucket; the last takes what
		// is left, however small.
		{tiny, 4, 8, []span{{7, 12}, {5, 7}, {0, 5}}},
		{tiny, 4, 12, []span{{7, 12}, {0, 7}}},
		{tiny, 4, 20, []span{{7, 12}, {0, 7}}},
		{tiny, 4, 25, []span{{5, 12}, {0, 5}}},
		{tiny, 8, 1 << 10, []span{{0, 12}}},
		{[]int{0, 6}, 4, 1, []span{{0, 7}}},
	}
	for i, tc := range tests {
		got := planBuckets(tc.offsets, tc.elem, tc.bucketSize)
		if !slices.Equal(got, tc.want) {
			t.Errorf("test %d (%d-byte elements, buckets of %d bytes): got %v want %v", i, tc.elem, tc.bucketSize, got, tc.want)
		}
	}
}

// testSpec is a small job with dropout and both penalties, three layers.
const testSpec = `
dataset: {name: spirals, samples: 300}
model: {layers: [{units: 16, activation: relu, dropout: 0.25}, {units: 8, activation: tanh, dropout: 0.1}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: momentum, learning_rate: 0.05}, batch_size: 32, epochs: 1, seed: 7, l1: 0.001, l2: 0.01}`

func testReplica[T nn.Float](t *testing.T) (*typedReplica[T], *data.Dataset, *jobspec.Spec) {
	t.Helper()
	spec, err := jobspec.Parse([]byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Synthetic("spirals", 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := newTypedReplica[T](spec, ds)
	if err != nil {
		t.Fatal(err)
	}
	return rep, ds, spec
}

// call is one ring call as a fakeRing saw it: the range of the buffer and
// the weight.
type call struct {
	lo, hi int
	weight float64
}

// fakeRing records the calls on buf and leaves it as it is, which is the
// all-reduce of members that all hold the same buffer. Its failAt'th call
// ever (counting from 1) fails.
type fakeRing struct {
	base, elem uintptr
	failAt     int
	mu         sync.Mutex
	n          int           // calls ever made
	calls      []call        // since took
	called     chan struct{} // one token per call, when not nil
}

var errRing = errors.New("ring broke")

func newFakeRing[T nn.Float](buf []T) *fakeRing {
	return &fakeRing{base: uintptr(unsafe.Pointer(&buf[0])), elem: unsafe.Sizeof(buf[0]), calls: make([]call, 0, 1024)}
}

func (f *fakeRing) record(p unsafe.Pointer, n int, weight float64) error {
	f.mu.Lock()
	lo := int((uintptr(p) - f.base) / f.elem)
	f.calls = append(f.calls, call{lo, lo + n, weight})
	f.n++
	k := f.n
	f.mu.Unlock()
	if f.called != nil {
		f.called <- struct{}{}
	}
	if k == f.failAt {
		return errRing
	}
	return nil
}

// callOn returns f's all-reduce of []T.
func callOn[T nn.Float](f *fakeRing) func(b []T, weight float64) error {
	return func(b []T, w float64) error { return f.record(unsafe.Pointer(unsafe.SliceData(b)), len(b), w) }
}

func (f *fakeRing) took() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := slices.Clone(f.calls)
	f.calls = f.calls[:0]
	return c
}

func sameBits[T nn.Float](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return math.Float64bits(float64(x)) == math.Float64bits(float64(y)) })
}

// TestBucketReducerCalls checks that a step makes the plan's calls, in
// order, with the member's weight, also with no samples, and that the
// buffer ends with the bits of the whole-buffer step.
func TestBucketReducerCalls(t *testing.T) {
	for _, size := range []int{0, -1, 1, 64, 300, DefaultBucketBytes} {
		t.Run(fmt.Sprintf("bucket=%d/float32", size), func(t *testing.T) { checkCalls[float32](t, size) })
		t.Run(fmt.Sprintf("bucket=%d/float64", size), func(t *testing.T) { checkCalls[float64](t, size) })
	}
}

func checkCalls[T nn.Float](t *testing.T, size int) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rep, ds, _ := testReplica[T](t)
	ring := newFakeRing(rep.rep.Reduced)
	red := rep.reducer(callOn[T](ring), size)
	defer red.close()
	plan := planBuckets(rep.rep.Net.Arch().ParamOffsets(), int(unsafe.Sizeof(T(0))), size)
	for _, idx := range [][]int{{3, 1, 4, 1, 5, 9, 2, 6}, nil, {299}} {
		wantLoss := rep.rep.Gradients(ds, idx, 2)
		want := append(slices.Clone(rep.rep.Grads), T(wantLoss))
		loss, err := red.reduce(ds, idx, 2, &stepTimes{})
		if err != nil {
			t.Fatal(err)
		}
		if loss != float64(T(wantLoss)) || !sameBits(rep.rep.Reduced, want) {
			t.Errorf("%d samples: buffer differs from the whole-buffer step's (loss %v want %v)", len(idx), loss, wantLoss)
		}
		var wantCalls []call
		for _, b := range plan {
			wantCalls = append(wantCalls, call{b.lo, b.hi, float64(len(idx))})
		}
		if got := ring.took(); !slices.Equal(got, wantCalls) {
			t.Errorf("%d samples: calls got %v want %v", len(idx), got, wantCalls)
		}
	}
}

// TestBucketReducerAllocs checks that an overlapped step allocates nothing.
func TestBucketReducerAllocs(t *testing.T) {
	rep, ds, _ := testReplica[float32](t)
	ring := newFakeRing(rep.rep.Reduced)
	red := rep.reducer(callOn[float32](ring), 1)
	defer red.close()
	idx := []int{3, 1, 4, 1, 5, 9, 2, 6}
	var st stepTimes // one an epoch, as steps has it
	m := NewMetrics(prometheus.NewRegistry())
	allocs := testing.AllocsPerRun(20, func() {
		ring.mu.Lock()
		ring.calls = ring.calls[:0]
		ring.mu.Unlock()
		loss, err := red.reduce(ds, idx, 0, &st)
		if err != nil {
			t.Fatal(err)
		}
		m.recordStep(&st, time.Millisecond, len(idx), 4*len(rep.rep.Reduced), 2, loss)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per step, want 0", allocs)
	}
}

// TestBucketReducerFailure fails each call of a step in turn: the step
// returns the ring's error, makes no call after it, and the next step
// starts clean.
func TestBucketReducerFailure(t *testing.T) {
	for failAt := 1; failAt <= 3; failAt++ {
		t.Run(fmt.Sprintf("call=%d", failAt), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			rep, ds, _ := testReplica[float64](t)
			ring := newFakeRing(rep.rep.Reduced)
			ring.failAt = failAt
			red := rep.reducer(callOn[float64](ring), 1)
			defer red.close()
			idx := []int{10, 20, 30}
			if _, err := red.reduce(ds, idx, 0, &stepTimes{}); !errors.Is(err, errRing) {
				t.Fatalf("got error %v want %v", err, errRing)
			}
			if got := ring.took(); len(got) != failAt {
				t.Errorf("calls got %v, want %d: none after the failure", got, failAt)
			}
			wantLoss := rep.rep.Gradients(ds, idx, 1)
			want := append(slices.Clone(rep.rep.Grads), wantLoss)
			if _, err := red.reduce(ds, idx, 1, &stepTimes{}); err != nil {
				t.Fatalf("next step: %v", err)
			}
			if got := ring.took(); len(got) != 3 || !sameBits(rep.rep.Reduced, want) {
				t.Errorf("next step: calls %v (want 3) or buffer wrong", got)
			}
		})
	}
}

// scripted is a gradienter whose backward reports layers of equal size one
// at a time, letting a test act between them.
type scripted struct {
	offsets []int
	between func(layer int) // called before reporting each layer but the last
}

func (s *scripted) Gradients(*data.Dataset, []int, int) float64 { panic("not used") }

func (s *scripted) GradientsByLayer(_ *data.Dataset, _ []int, _ int, sink nn.LayerSink) float64 {
	sink.CostReady(1)
	for i := len(s.offsets) - 2; i >= 0; i-- {
		if i < len(s.offsets)-2 && s.between != nil {
			s.between(i)
		}
		sink.LayerReady(s.offsets[i], s.offsets[i+1])
	}
	return 1
}

// TestBucketReducerOverlapsBackward checks that a bucket is all-reduced
// while backward computes the layers below it: backward waits for each
// call before it reports the next layer, which deadlocks (here: times out)
// unless the calls run concurrently.
func TestBucketReducerOverlapsBackward(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	buf := make([]float32, 31)
	ring := newFakeRing(buf)
	ring.called = make(chan struct{}, 3)
	off := []int{0, 10, 20, 30}
	g := &scripted{offsets: off, between: func(layer int) {
		select {
		case <-ring.called:
		case <-time.After(10 * time.Second):
			t.Errorf("layer %d: the bucket above was not all-reduced during backward", layer)
		}
	}}
	red := newBucketReducer(callOn[float32](ring), g, buf, 3, planBuckets(off, 4, 1))
	defer red.close()
	if _, err := red.reduce(nil, []int{1}, 0, &stepTimes{}); err != nil {
		t.Fatal(err)
	}
	want := []call{{20, 31, 1}, {10, 20, 1}, {0, 10, 1}}
	if got := ring.took(); !slices.Equal(got, want) {
		t.Errorf("calls got %v want %v", got, want)
	}
}

// TestBucketReducerCancel cancels the context while a call waits for a
// silent peer: the step returns the ring's error and close does not hang,
// though backward reported its layers after the call had started.
func TestBucketReducerCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	buf := make([]float64, 31)
	ring := &blockingRing{started: make(chan struct{})}
	off := []int{0, 10, 20, 30}
	g := &scripted{offsets: off, between: func(int) {
		<-ring.started
		cancel()
	}}
	red := newBucketReducer(func([]float64, float64) error { return ring.wait(ctx) }, g, buf, 3, planBuckets(off, 8, 1))
	defer red.close()
	done := make(chan error, 1)
	go func() {
		_, err := red.reduce(nil, []int{1}, 0, &stepTimes{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the step did not return after its context was cancelled")
	}
}

// blockingRing's calls wait for their context, as a call to a silent peer
// does until the ring's timeout.
type blockingRing struct {
	once    sync.Once
	started chan struct{}
}

func (b *blockingRing) wait(ctx context.Context) error {
	b.once.Do(func() { close(b.started) })
	<-ctx.Done()
	return ctx.Err()
}

// TestBucketsOnARing trains two members on a real in-memory ring, with and
// without overlap: the members end with the same bits, and overlap gives
// the model of the whole-buffer step.
func TestBucketsOnARing(t *testing.T) {
	whole := trainOnRing[float32](t, 0)
	for _, size := range []int{1, 300} {
		got := trainOnRing[float32](t, size)
		worst := 0.0
		for i, v := range got {
			worst = max(worst, math.Abs(float64(v-whole[i]))/max(math.Abs(float64(whole[i])), 1e-2))
		}
		t.Logf("buckets of %d bytes: max relative difference from the whole-buffer run %.3g", size, worst)
		if worst > 1e-6 {
			t.Errorf("buckets of %d bytes: parameters differ from the whole-buffer run by %.3g (relative)", size, worst)
		}
	}
}

// trainOnRing runs 4 steps of global batch 32 on a ring of two members
// with buckets of bucketBytes and returns member 0's parameters, after
// checking that member 1 has the same bits.
func trainOnRing[T nn.Float](t *testing.T, bucketBytes int) []T {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	net := memnet.NewNetwork(1)
	addrs := []string{"a", "b"}
	params := make([][]T, 2)
	var wg sync.WaitGroup
	for rank := range addrs {
		rep, ds, spec := testReplica[T](t)
		wg.Go(func() {
			ctx := context.Background()
			ring, err := allreduce.NewRing(ctx, net, allreduce.Membership{Job: "j", Generation: 1, Rank: rank, Addrs: addrs})
			if err != nil {
				t.Error(err)
				return
			}
			defer ring.Close()
			red := rep.newReducer(ctx, ring, bucketBytes)
			defer red.close()
			plan := shard.NewBatches(spec.Training.Seed, 0, ds.Len(), spec.Training.BatchSize)
			sched := spec.Training.LearningRates(plan.Steps())
			for k := range 4 {
				if _, err := red.reduce(ds, shard.Split(plan.Batch(k), len(addrs), rank), 0, &stepTimes{}); err != nil {
					t.Error(err)
					return
				}
				rep.rep.Opt.Step(rep.rep.Net.Params(), rep.rep.Grads, sched.At(int64(k), 0))
			}
			params[rank] = slices.Clone(rep.rep.Net.Params())
		})
	}
	wg.Wait()
	if !sameBits(params[0], params[1]) {
		t.Errorf("buckets of %d bytes: the members' parameters differ", bucketBytes)
	}
	return params[0]
}
