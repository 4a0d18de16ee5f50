package allreduce

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
)

// The tests in this file run over real links: each over every transport
// in kinds, whose members serve gRPC on 127.0.0.1 as workers do.

// linkRings forms one ring over ts, as its members would.
func linkRings(t *testing.T, ts []Transport, addrs []string, job string, gen uint64, opts ...Option) []*Ring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rings, err := FormRings(ctx, ts, job, gen, addrs, append([]Option{WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatalf("form ring of %d: %v", len(ts), err)
	}
	t.Cleanup(func() {
		for _, r := range rings {
			r.Close()
		}
	})
	return rings
}

// TestLinksAllReduce checks the mean over rings of 1 to 16 members, with
// small and default chunks, float32 and float64, plain and weighted, and
// over TLS.
func TestLinksAllReduce(t *testing.T) {
	members := map[string][]int{"tcp": {1, 2, 3, 5, 16}, "grpc": {1, 2, 3, 5}, "tcp-tls": {3}}
	for _, kind := range append(kinds, "tcp-tls") {
		t.Run(kind, func(t *testing.T) {
			for _, n := range members[kind] {
				ts, addrs := startTransports(t, kind, n)
				for _, chunk := range []int{4 << 10, DefaultChunkBytes} {
					rings := linkRings(t, ts, addrs, "links", uint64(chunk), WithChunkBytes(chunk))
					checkLinks(t, fmt.Sprintf("N=%d chunk=%d", n, chunk), rings)
				}
			}
		})
	}
}

func checkLinks(t *testing.T, name string, rings []*Ring) {
	t.Helper()
	n := len(rings)
	for _, size := range []int{0, 1, n - 1, 7*n + 3, 1_000_000} {
		name := fmt.Sprintf("%s size=%d", name, size)
		inputs := randomBufs(uint64(size), n, size)
		got := clone(inputs)
		for k, err := range AllReduceAll(context.Background(), rings, got, nil) {
			if err != nil {
				t.Fatalf("%s: member %d: %v", name, k, err)
			}
		}
		checkMean(t, name, inputs, got, nil)
	}
	weights := []float64{3, 0.5, 1, 2, 7, 0, 1, 1, 2, 9, 4, 1, 1, 5, 1, 3}[:n]
	inputs := randomBufs(99, n, 10_001)
	got := clone(inputs)
	for k, err := range AllReduceAll(context.Background(), rings, got, weights) {
		if err != nil {
			t.Fatalf("%s weighted: member %d: %v", name, k, err)
		}
	}
	if n > 1 {
		checkMean(t, name+" weighted", inputs, got, weights)
	}
	inputs64 := randomBufs64(98, n, 150_001)
	got64 := clone(inputs64)
	for k, err := range AllReduceAll(context.Background(), rings, got64, weights) {
		if err != nil {
			t.Fatalf("%s float64: member %d: %v", name, k, err)
		}
	}
	checkMean(t, name+" float64", inputs64, got64, weights)
}

// TestLinksLargeChunks reduces 20 MB with the largest chunks: no message
// may reach gRPC's 4 MiB limit.
func TestLinksLargeChunks(t *testing.T) {
	forKinds(t, testLargeChunks)
}

// forKinds runs test over every transport in kinds.
func forKinds(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { test(t, kind) })
	}
}

func testLargeChunks(t *testing.T, kind string) {
	nodes, addrs := startTransports(t, kind, 2)
	rings := linkRings(t, nodes, addrs, "large", 1, WithChunkBytes(MaxChunkBytes))
	inputs := randomBufs(1, 2, 5_000_000)
	got := clone(inputs)
	for k, err := range AllReduceAll(context.Background(), rings, got, nil) {
		if err != nil {
			t.Fatalf("member %d: %v", k, err)
		}
	}
	checkMean(t, "20 MB", inputs, got, nil)
	m := Membership{Job: "large", Generation: 2, Addrs: addrs}
	if _, err := NewRing(context.Background(), nodes[0], m, WithChunkBytes(MaxChunkBytes+4)); err == nil {
		t.Errorf("chunks of %d bytes: formed a ring, want an error", MaxChunkBytes+4)
	}
}

func TestLinksStalledMember(t *testing.T) {
	forKinds(t, testStalledMember)
}

func testStalledMember(t *testing.T, kind string) {
	const timeout = 500 * time.Millisecond
	nodes, addrs := startTransports(t, kind, 4)
	rings := linkRings(t, nodes, addrs, "stall", 1, WithTimeout(timeout))
	t0 := time.Now()
	out := startCalls(nil, rings, 100_000, 1)()
	checkBlame(t, out, 1, ErrTimeout, t0, timeout+slack, 1)
}

func TestLinksStaleGeneration(t *testing.T) {
	forKinds(t, testStaleGeneration)
}

func testStaleGeneration(t *testing.T, kind string) {
	nodes, addrs := startTransports(t, kind, 3)
	linkRings(t, nodes[:2], addrs[:2], "stale", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Node 0 has formed generation 2: it refuses to form 1.
	m := Membership{Job: "stale", Generation: 1, Rank: 0, Addrs: addrs[:2]}
	if _, err := NewRing(ctx, nodes[0], m, WithLogger(quiet)); !errors.Is(err, ErrGeneration) {
		t.Errorf("node 0 forming generation 1: got %v, want ErrGeneration", err)
	}
	// Node 2 has not, but its successor, node 0, refuses its link.
	m = Membership{Job: "stale", Generation: 1, Rank: 0, Addrs: []string{addrs[2], addrs[0]}}
	if _, err := NewRing(ctx, nodes[2], m, WithLogger(quiet)); !errors.Is(err, ErrGeneration) {
		t.Errorf("node 2 linking to node 0 in generation 1: got %v, want ErrGeneration", err)
	}
}

// TestLinksDeadSuccessor forms a ring whose member 1 is gone, its address
// refusing connections: member 0, its predecessor, fails at once naming
// it, rather than waiting to reach it.
func TestLinksDeadSuccessor(t *testing.T) {
	forKinds(t, testDeadSuccessor)
}

func testDeadSuccessor(t *testing.T, kind string) {
	nodes, addrs := startTransports(t, kind, 1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	m := Membership{Job: "dead", Generation: 1, Rank: 0, Addrs: []string{addrs[0], dead}}
	_, err = NewRing(ctx, nodes[0], m, WithLogger(quiet))
	var pe *PeerError
	if !errors.As(err, &pe) || pe.Rank != 1 || pe.Addr != dead || !errors.Is(err, ErrDisconnected) {
		t.Fatalf("forming with a dead successor: got %v, want a PeerError naming rank 1 at %s, disconnected", err, dead)
	}
	if ctx.Err() != nil {
		t.Errorf("the error came only when the context ended, after %v", time.Since(start))
	}
}

// TestLinksMemberKilled kills a member process with SIGKILL while the ring
// is busy: the other members, in this process, fail within the timeout,
// naming it, and then form a new generation without it.
func TestLinksMemberKilled(t *testing.T) {
	forKinds(t, testMemberKilled)
}

func testMemberKilled(t *testing.T, kind string) {
	const (
		timeout = 2 * time.Second
		size    = 1 << 20
	)
	nodes, local := startTransports(t, kind, 3)
	child := startProc(t, "member-"+kind)
	addrs := []string{local[0], local[1], child.addr, local[2]}
	members := []Transport{nodes[0], nodes[1], nil, nodes[2]}

	child.send("ring killed 1 2 %v %d %s", timeout, DefaultChunkBytes, strings.Join(addrs, ","))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rings := make([]*Ring, 4)
	var wg sync.WaitGroup
	formErrs := make([]error, 4)
	for _, i := range []int{0, 1, 3} {
		wg.Go(func() {
			m := Membership{Job: "killed", Generation: 1, Rank: i, Addrs: addrs}
			rings[i], formErrs[i] = NewRing(ctx, members[i], m, WithTimeout(timeout), WithLogger(quiet))
		})
	}
	wg.Wait()
	if _, err := child.expect("ok"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3} {
		if formErrs[i] != nil {
			t.Fatalf("rank %d: %v", i, formErrs[i])
		}
		defer rings[i].Close()
	}

	// Everyone reduces in a loop; the child is killed during its third call.
	child.send("loop %d", size)
	out := make([]outcome, 4)
	calls := make([]int, 4)
	for _, i := range []int{0, 1, 3} {
		wg.Go(func() {
			buf := make([]float32, size)
			for {
				if err := rings[i].AllReduce(ctx, buf); err != nil {
					out[i] = outcome{err, time.Now()}
					return
				}
				calls[i]++
			}
		})
	}
	if _, err := child.expect("done"); err != nil {
		t.Fatal(err)
	}
	if _, err := child.expect("done"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("calls completed before the kill: %v", calls)
	checkBlame(t, out, 2, ErrDisconnected, t0, timeout+slack, 2)

	// The survivors form generation 2.
	survivors := []string{local[0], local[1], local[2]}
	next := linkRings(t, nodes, survivors, "killed", 2)
	inputs := randomBufs(3, 3, 100_003)
	got := clone(inputs)
	for k, err := range AllReduceAll(ctx, next, got, nil) {
		if err != nil {
			t.Fatalf("generation 2, member %d: %v", k, err)
		}
	}
	checkMean(t, "generation 2", inputs, got, nil)
}

// TestLinksNoGoroutineLeft checks that closing rings, transports and
// servers leaves no goroutine behind, after calls that succeed and calls
// that fail.
func TestLinksNoGoroutineLeft(t *testing.T) {
	forKinds(t, testNoGoroutineLeft)
}

func testNoGoroutineLeft(t *testing.T, kind string) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("cluster", func(t *testing.T) {
		nodes, addrs := startTransports(t, kind, 3)
		rings := linkRings(t, nodes, addrs, "leak", 1, WithTimeout(300*time.Millisecond))
		bufs := randomBufs(1, 3, 70_000)
		for k, err := range AllReduceAll(context.Background(), rings, bufs, nil) {
			if err != nil {
				t.Fatalf("member %d: %v", k, err)
			}
		}
		// A stalled member, then a closed one.
		startCalls(nil, rings, 1000, 2)()
		rings[1].Close()
	})
}

// TestLinksAllocations checks that a call allocates nothing in proportion
// to the buffer. Over gRPC what it allocates (under 1% of the buffer,
// measured) is gRPC's per-message bookkeeping, and its receive pool, a
// sync.Pool that does not always find a free buffer; over TCP a call
// allocates nothing once its link's chunk buffer has grown, with a context
// that can be cancelled.
func TestLinksAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool, and so gRPC, allocate at random")
	}
	forKinds(t, testAllocations)
}

func testAllocations(t *testing.T, kind string) {
	nodes, addrs := startTransports(t, kind, 2)
	rings := linkRings(t, nodes, addrs, "allocs", 1)
	const size = 4 << 20 // 16 MiB
	bufs := randomBufs(1, 2, size)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Each member calls from a goroutine of its own that lives as long as
	// the test, as a worker's training loop does: nothing here allocates
	// but the calls.
	start := []chan struct{}{make(chan struct{}), make(chan struct{})}
	done := make(chan error, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	for k := range rings {
		defer close(start[k])
		wg.Go(func() {
			for range start[k] {
				done <- rings[k].AllReduce(ctx, bufs[k])
			}
		})
	}
	call := func() {
		for k := range rings {
			start[k] <- struct{}{}
		}
		for range rings {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 10 {
		call() // the pools fill up to what a call keeps in flight
	}
	// A collection empties sync.Pools, gRPC's buffer pools among them, and
	// refilling them is not the call's doing.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 20
	for range calls {
		call()
	}
	runtime.ReadMemStats(&after)
	perMember := float64(after.TotalAlloc-before.TotalAlloc) / calls / 2
	objects := float64(after.Mallocs-before.Mallocs) / calls / 2
	t.Logf("allocated per member per call: %.0f bytes (%.3f%% of the %d-byte buffer), %.1f objects",
		perMember, 100*perMember/(4*size), 4*size, objects)
	if kind == "tcp" {
		// Nothing per call, that is. The runtime may still build a type
		// assertion's cache (it does on 1 miss in 1,024, the first few
		// thousand times net.Buffers.WriteTo asks what its writer is),
		// a few objects in all; one per call would be 40.
		if got := after.Mallocs - before.Mallocs; got >= calls {
			t.Errorf("allocated %.1f objects (%.0f bytes) per member per call, want none", objects, perMember)
		}
		return
	}
	if limit := 0.02 * 4 * size; perMember > limit {
		t.Errorf("allocated %.0f bytes per member per call, over %.0f", perMember, limit)
	}
}

// TestLinksBufferReusedAtOnce overwrites each member's buffer the moment
// its call returns, as a worker does with the next step's gradient. Both
// transports write chunks straight from the buffer: under the race
// detector this checks that a call returns only after the last read of it,
// and any run checks that no overwrite reached a peer's result.
func TestLinksBufferReusedAtOnce(t *testing.T) {
	forKinds(t, testBufferReusedAtOnce)
}

func testBufferReusedAtOnce(t *testing.T, kind string) {
	const n, size, calls = 3, 200_001, 20
	nodes, addrs := startTransports(t, kind, n)
	rings := linkRings(t, nodes, addrs, "reuse", 1, WithChunkBytes(16<<10))
	var g errgroup.Group
	for k, r := range rings {
		g.Go(func() error {
			buf := make([]float32, size)
			for c := range calls {
				for i := range buf {
					buf[i] = float32(1000*k + c)
				}
				if err := r.AllReduce(context.Background(), buf); err != nil {
					return fmt.Errorf("member %d, call %d: %w", k, c, err)
				}
				sum := float32(1000*(n-1)*n/2 + n*c)
				want := float32(float64(sum) * (1.0 / n))
				for i, v := range buf {
					if v != want {
						return fmt.Errorf("member %d, call %d: element %d is %v, want %v", k, c, i, v, want)
					}
				}
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
