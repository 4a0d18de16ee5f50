package allreduce

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// This file holds helpers for the tests of this package and its external
// test package; being a test file, it is linked into no binary.

// FormRings forms ring (job, generation) over addrs in this process, member
// i connecting through transports[i] (the same Network for all, or one Node
// each), concurrently, as the members of a real job would. On error it
// closes what it formed.
func FormRings(ctx context.Context, transports []Transport, job string, generation uint64, addrs []string, opts ...Option) ([]*Ring, error) {
	rings := make([]*Ring, len(addrs))
	g, gctx := errgroup.WithContext(ctx)
	for i := range addrs {
		g.Go(func() error {
			m := Membership{Job: job, Generation: generation, Rank: i, Addrs: addrs}
			r, err := NewRing(gctx, transports[i], m, opts...)
			rings[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for _, r := range rings {
			if r != nil {
				r.Close()
			}
		}
		return nil, err
	}
	return rings, nil
}

// AllReduceAll calls AllReduceWeighted on every
// ring at once, ring i reducing bufs[i] with weights[i] (1 if weights is
// nil), and returns each member's error.
func AllReduceAll[T precision.Float](ctx context.Context, rings []*Ring, bufs [][]T, weights []float64) []error {
	errs := make([]error, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		wg.Go(func() { errs[i] = AllReduceWeighted(ctx, r, bufs[i], w) })
	}
	wg.Wait()
	return errs
}

// Transports returns t n times, for FormRings over one shared Transport.
func Transports(t Transport, n int) []Transport {
	ts := make([]Transport, n)
	for i := range ts {
		ts[i] = t
	}
	return ts
}

// Servers start a member's transport, by the name of its data plane, on
// a new gRPC server listening on addr, with health and reflection
// registered as on a worker's server, and return the address the server
// listens on and a function that closes the transport and stops the
// server. transports_test.go adds them: tcpnet and grpcnet import this
// package, so only the external test package can start them.
var Servers = map[string]func(addr string) (t Transport, listening string, stop func(), err error){}

// kinds are the transports that every test of real links runs over.
var kinds = []string{"tcp", "grpc"}

// startTransports starts n transports of kind, each on its own gRPC
// server on 127.0.0.1, stopped when tb's test ends.
func startTransports(tb testing.TB, kind string, n int) (ts []Transport, addrs []string) {
	tb.Helper()
	serve := Servers[kind]
	if serve == nil {
		tb.Fatalf("no transport %q", kind)
	}
	for range n {
		t, addr, stop, err := serve("127.0.0.1:0")
		if err != nil {
			tb.Fatalf("start %s transport: %v", kind, err)
		}
		tb.Cleanup(stop)
		ts = append(ts, t)
		addrs = append(addrs, addr)
	}
	return ts, addrs
}

// TestNetwork is memnet.Network as the algorithm's tests use it.
type TestNetwork interface {
	Transport
	SetDelay(lo, hi time.Duration)
	SetDrop(p float64)
	Disconnect(addr string)
	Pause(addr string)
	Resume(addr string)
}

// NewTestNetwork returns a memnet.Network; transports_test.go sets it, as
// memnet imports this package.
var NewTestNetwork func(seed uint64) TestNetwork

func newNetwork(seed uint64) TestNetwork { return NewTestNetwork(seed) }
