package allreduce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// slack is how much later than its deadline a failure may be reported: the
// race detector and other work on a 2-core machine make timing loose.
const slack = 1500 * time.Millisecond

// outcome is how one member's call ended.
type outcome struct {
	err error
	end time.Time
}

// startCalls starts a call on a buffer of size elements on every ring but
// those in skip, with ctxs[i] if given, and returns a function that waits
// for them.
func startCalls(ctxs []context.Context, rings []*Ring, size int, skip ...int) func() []outcome {
	out := make([]outcome, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		if slices.Contains(skip, i) {
			continue
		}
		ctx := context.Background()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		wg.Go(func() {
			err := r.AllReduce(ctx, make([]float32, size))
			out[i] = outcome{err, time.Now()}
		})
	}
	return func() []outcome {
		wg.Wait()
		return out
	}
}

// checkBlame checks that every member but those in skip failed within
// `within` of t0, naming culprit, with a cause that wraps want.
func checkBlame(t *testing.T, out []outcome, culprit int, want error, t0 time.Time, within time.Duration, skip ...int) {
	t.Helper()
	for i, o := range out {
		if slices.Contains(skip, i) {
			continue
		}
		var pe *PeerError
		switch {
		case o.err == nil:
			t.Errorf("rank %d: call succeeded, want a failure", i)
		case !errors.As(o.err, &pe) || pe.Rank != culprit:
			t.Errorf("rank %d: got %v, want a *PeerError naming rank %d", i, o.err, culprit)
		case !errors.Is(o.err, want):
			t.Errorf("rank %d: got %v, want it to wrap %v", i, o.err, want)
		case o.end.Sub(t0) > within:
			t.Errorf("rank %d: failed %v after the fault, want within %v", i, o.end.Sub(t0), within)
		}
	}
}

// slowNetwork delays every frame so that a call on a buffer of longCall
// elements with 64-byte chunks takes about a second: long enough to fault
// it midway.
func slowNetwork(seed uint64) TestNetwork {
	net := newNetwork(seed)
	net.SetDelay(20*time.Microsecond, 200*time.Microsecond)
	return net
}

const longCall = 100_000

func TestMemberKilledMidReduce(t *testing.T) {
	net := slowNetwork(1)
	const timeout = 2 * time.Second
	rings := memRings(t, net, "killed", 1, 4, WithChunkBytes(64), WithTimeout(timeout))
	wait := startCalls(nil, rings, longCall)
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	net.Disconnect("member-2")
	out := wait()
	// A crash breaks the links at once: nobody needs the timeout.
	checkBlame(t, out, 2, ErrDisconnected, t0, slack, 2)
	if out[2].err == nil {
		t.Errorf("rank 2, killed: call succeeded")
	}
}

func TestStalledMember(t *testing.T) {
	const timeout = 300 * time.Millisecond
	rings := memRings(t, newNetwork(2), "stalled", 1, 4, WithTimeout(timeout))
	// Rank 2 never makes the call.
	t0 := time.Now()
	out := startCalls(nil, rings, 1000, 2)()
	checkBlame(t, out, 2, ErrTimeout, t0, timeout+slack, 2)
	for i, o := range out {
		if i != 2 && o.end.Sub(t0) < timeout {
			t.Errorf("rank %d: failed after %v, before the timeout of %v", i, o.end.Sub(t0), timeout)
		}
	}
}

func TestStallMidReduce(t *testing.T) {
	net := slowNetwork(3)
	const timeout = 300 * time.Millisecond
	rings := memRings(t, net, "paused", 1, 4, WithChunkBytes(64), WithTimeout(timeout))
	wait := startCalls(nil, rings, longCall, 2)
	done := make(chan error)
	go func() { done <- rings[2].AllReduce(context.Background(), make([]float32, longCall)) }()
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	net.Pause("member-2")
	out := wait()
	checkBlame(t, out, 2, ErrTimeout, t0, timeout+slack, 2)
	net.Resume("member-2")
	if err := <-done; err == nil {
		t.Errorf("rank 2, stalled: call succeeded")
	}
}

func TestCancelMidReduce(t *testing.T) {
	rings := memRings(t, slowNetwork(4), "cancel", 1, 3, WithChunkBytes(64))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startCalls([]context.Context{nil, ctx, nil}, rings, longCall)
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	cancel()
	out := wait()
	if !errors.Is(out[1].err, context.Canceled) {
		t.Errorf("rank 1, cancelled: got %v, want context.Canceled", out[1].err)
	}
	if d := out[1].end.Sub(t0); d > 100*time.Millisecond+slack/3 {
		t.Errorf("rank 1, cancelled: returned after %v", d)
	}
	// The others hear of it well before their timeout.
	checkBlame(t, out, 1, ErrLeft, t0, slack, 1)
}

func TestCancelBeforeCall(t *testing.T) {
	rings := memRings(t, newNetwork(5), "early", 1, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rings[0].AllReduce(ctx, []float32{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// Nothing was sent: the ring still works.
	bufs := [][]float32{{1}, {3}}
	for k, err := range AllReduceAll(context.Background(), rings, bufs, nil) {
		if err != nil || bufs[k][0] != 2 {
			t.Fatalf("member %d: got %v, %v want 2, nil", k, bufs[k][0], err)
		}
	}
}

func TestCloseDuringCall(t *testing.T) {
	rings := memRings(t, slowNetwork(6), "close", 1, 3, WithChunkBytes(64))
	wait := startCalls(nil, rings, longCall)
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	rings[0].Close()
	out := wait()
	if !errors.Is(out[0].err, ErrClosed) {
		t.Errorf("rank 0, closed: got %v, want ErrClosed", out[0].err)
	}
	checkBlame(t, out, 0, ErrLeft, t0, slack, 0)
}

// leaveAfterCall has every member make one call on its ring and close the
// ring as soon as its call returns, as a worker that stops after its last
// step does, and returns each member's error.
func leaveAfterCall(rings []*Ring, size int) []error {
	errs := make([]error, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		wg.Go(func() {
			errs[i] = r.AllReduce(context.Background(), make([]float32, size))
			r.Close()
		})
	}
	wg.Wait()
	return errs
}

// TestCloseAfterLastCall: a member that closes its ring right after its
// call returns must not fail the others' same call, which may still be
// receiving their last chunks; the next call fails, naming it.
func TestCloseAfterLastCall(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		net := newNetwork(13)
		net.SetDelay(0, 300*time.Microsecond)
		for gen := range uint64(40) {
			n := 2 + int(gen%4)
			rings := memRings(t, net, "leave", gen+1, n, WithChunkBytes(256))
			for k, err := range leaveAfterCall(rings, 3000) {
				if err != nil {
					t.Fatalf("generation %d, N=%d: member %d: %v", gen+1, n, k, err)
				}
			}
		}
	})
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			nodes, addrs := startTransports(t, kind, 3)
			for gen := range uint64(20) {
				rings := linkRings(t, nodes, addrs, "leave", gen+1, WithChunkBytes(4<<10))
				for k, err := range leaveAfterCall(rings, 100_000) {
					if err != nil {
						t.Fatalf("generation %d: member %d: %v", gen+1, k, err)
					}
				}
			}
		})
	}
	t.Run("next call", func(t *testing.T) {
		rings := memRings(t, newNetwork(14), "leave-next", 1, 3)
		for k, err := range AllReduceAll(context.Background(), rings, make([][]float32, 3), nil) {
			if err != nil {
				t.Fatalf("member %d: %v", k, err)
			}
		}
		rings[0].Close()
		errs := AllReduceAll(context.Background(), rings[1:], [][]float32{{1}, {2}}, nil)
		for k, err := range errs {
			var pe *PeerError
			if !errors.Is(err, ErrLeft) || !errors.As(err, &pe) || pe.Rank != 0 {
				t.Errorf("member %d after rank 0 left: got %v, want ErrLeft naming rank 0", k+1, err)
			}
		}
	})
}

func TestNewGenerationAfterFailure(t *testing.T) {
	net := slowNetwork(7)
	old := memRings(t, net, "regen", 1, 4, WithChunkBytes(64))
	wait := startCalls(nil, old, longCall)
	time.Sleep(50 * time.Millisecond)
	net.Disconnect("member-3")
	for i, o := range wait() {
		if o.err == nil {
			t.Fatalf("generation 1, rank %d: call succeeded", i)
		}
	}
	for _, r := range old {
		r.Close()
	}
	net.SetDelay(0, 0)
	// The survivors form generation 2 without member-3.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rings, err := FormRings(ctx, Transports(net, 3), "regen", 2, addrs(3), WithLogger(quiet))
	if err != nil {
		t.Fatalf("form generation 2: %v", err)
	}
	defer func() {
		for _, r := range rings {
			r.Close()
		}
	}()
	inputs := randomBufs(7, 3, 1001)
	got := clone(inputs)
	for k, err := range AllReduceAll(ctx, rings, got, nil) {
		if err != nil {
			t.Fatalf("generation 2, rank %d: %v", k, err)
		}
	}
	checkMean(t, "generation 2", inputs, got, nil)
	// Generation 1 cannot come back.
	m := Membership{Job: "regen", Generation: 1, Rank: 0, Addrs: addrs(3)}
	if _, err := NewRing(ctx, net, m, WithLogger(quiet)); !errors.Is(err, ErrGeneration) {
		t.Errorf("forming generation 1 again: got %v, want ErrGeneration", err)
	}
}

// restamp is a Transport whose member at rank stamps its data frames with
// another job or generation, as a member of an old ring that resumed after
// a stall would.
type restamp struct {
	Transport
	rank  int
	stamp func(f *Frame)
}

func (s restamp) Connect(ctx context.Context, m Membership) (prev, next Link, err error) {
	prev, next, err = s.Transport.Connect(ctx, m)
	if err == nil && m.Rank == s.rank {
		next = restampLink{next, s.stamp}
	}
	return prev, next, err
}

type restampLink struct {
	Link
	stamp func(f *Frame)
}

func (l restampLink) Send(f *Frame) error {
	if f.Kind != KindData {
		return l.Link.Send(f)
	}
	g := *f
	l.stamp(&g)
	return l.Link.Send(&g)
}

func TestStaleFrameRejected(t *testing.T) {
	for name, stamp := range map[string]func(*Frame){
		"generation": func(f *Frame) { f.Generation-- },
		"job":        func(f *Frame) { f.Job = "another" },
	} {
		t.Run(name, func(t *testing.T) {
			net := newNetwork(8)
			ts := Transports(net, 3)
			ts[1] = restamp{net, 1, stamp}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rings, err := FormRings(ctx, ts, "stale", 5, addrs(3), WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, r := range rings {
					r.Close()
				}
			}()
			bufs := [][]float32{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
			errs := AllReduceAll(ctx, rings, bufs, nil)
			for i, err := range errs {
				var pe *PeerError
				if !errors.Is(err, ErrGeneration) || !errors.As(err, &pe) || pe.Rank != 1 {
					t.Errorf("rank %d: got %v, want ErrGeneration naming rank 1", i, err)
				}
			}
			// Rank 2 refused rank 1's stale frames before they could write.
			if got := bufs[2][1]; got != 8 {
				t.Errorf("rank 2: the element it receives first from rank 1 is %v, want 8, untouched", got)
			}
		})
	}
}

func TestStaleGenerationRefused(t *testing.T) {
	net := newNetwork(9)
	memRings(t, net, "refuse", 4, 2)
	m := Membership{Job: "refuse", Generation: 3, Rank: 0, Addrs: addrs(2)}
	if _, err := NewRing(context.Background(), net, m, WithLogger(quiet)); !errors.Is(err, ErrGeneration) {
		t.Fatalf("forming generation 3 after 4: got %v, want ErrGeneration", err)
	}
}

func TestMismatchedLengths(t *testing.T) {
	rings := memRings(t, newNetwork(10), "lengths", 1, 3)
	bufs := [][]float32{make([]float32, 10), make([]float32, 11), make([]float32, 10)}
	for i, err := range AllReduceAll(context.Background(), rings, bufs, nil) {
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("rank %d: got %v, want ErrMismatch", i, err)
		}
	}
}

// TestMismatchedPrecisions: a member that sends float64 to members that
// reduce float32 fails the call instead of mixing bits.
func TestMismatchedPrecisions(t *testing.T) {
	rings := memRings(t, newNetwork(10), "precisions", 1, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = rings[0].AllReduce(context.Background(), make([]float32, 10)) })
	wg.Go(func() { errs[1] = AllReduceWeighted(context.Background(), rings[1], make([]float64, 10), 1) })
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "float") {
			t.Errorf("rank %d: got %v, want ErrMismatch naming the precisions", i, err)
		}
	}
}

// TestLossyNetwork loses frames at random: no call hangs, every member
// either fails or ends with the right result, and after a failure the
// members form a new generation and go on.
//
// A loss during the last step fails only the members still waiting for
// it: those that had everything already returned. No protocol can make
// every member agree on the outcome when a message can be lost at any
// time, so workers recover from a failure on any member; see doc.go.
func TestLossyNetwork(t *testing.T) {
	net := newNetwork(11)
	net.SetDrop(0.002)
	const n = 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gen := uint64(1)
	var rings []*Ring
	form := func() {
		for _, r := range rings {
			r.Close()
		}
		var err error
		rings, err = FormRings(ctx, Transports(net, n), "lossy", gen, addrs(n), WithLogger(quiet),
			WithChunkBytes(256), WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatalf("form generation %d: %v", gen, err)
		}
		gen++
	}
	form()
	defer func() {
		for _, r := range rings {
			r.Close()
		}
	}()
	failures := 0
	for call := range 30 {
		inputs := randomBufs(uint64(call), n, 3000)
		got := clone(inputs)
		errs := AllReduceAll(ctx, rings, got, nil)
		var ok [][]float32
		for i, err := range errs {
			if err == nil {
				ok = append(ok, got[i])
			}
		}
		if len(ok) > 0 {
			checkMean(t, fmt.Sprintf("call %d", call), inputs, ok, nil)
		}
		if len(ok) < n {
			failures++
			form()
		}
	}
	if failures == 0 {
		t.Errorf("no call failed: the test lost no frame")
	}
}
