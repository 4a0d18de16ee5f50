package allreduce

import (
	"context"
	"net"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// This file holds helpers for tests, here and in packages that run rings
// in one process, such as the worker's.

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

// AllReduceAll calls AllReduceWeighted (or AllReduceWeighted64) on every
// ring at once, ring i reducing bufs[i] with weights[i] (1 if weights is
// nil), and returns each member's error.
func AllReduceAll[T float32 | float64](ctx context.Context, rings []*Ring, bufs [][]T, weights []float64) []error {
	errs := make([]error, len(rings))
	var wg sync.WaitGroup
	for i, r := range rings {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		wg.Go(func() {
			switch b := any(bufs[i]).(type) {
			case []float32:
				errs[i] = r.AllReduceWeighted(ctx, b, w)
			case []float64:
				errs[i] = r.AllReduceWeighted64(ctx, b, w)
			}
		})
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

// StartNodes starts n nodes, each on its own gRPC server on 127.0.0.1 with
// ServerOptions, health and reflection, as a worker's server has them. It
// stops them when tb's test ends.
func StartNodes(tb testing.TB, n int, opts ...NodeOption) (nodes []*Node, addrs []string) {
	tb.Helper()
	for range n {
		node, addr, stop, err := ServeNode("127.0.0.1:0", opts...)
		if err != nil {
			tb.Fatalf("start node: %v", err)
		}
		tb.Cleanup(stop)
		nodes = append(nodes, node)
		addrs = append(addrs, addr)
	}
	return nodes, addrs
}

// ServeNode starts a node on a new gRPC server listening on addr, with
// health and reflection registered, and returns the address it listens on
// and a function that closes the node and stops the server.
func ServeNode(addr string, opts ...NodeOption) (node *Node, listening string, stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, err
	}
	s := grpc.NewServer(ServerOptions()...)
	node = NewNode(opts...)
	node.Register(s)
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	stop = func() {
		node.Close()
		s.Stop()
		<-done
	}
	return node, lis.Addr().String(), stop, nil
}
