package forming

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// StartProbe watches the successor that a member's rendezvous call on cc
// waits for. That call waits, with no deadline of its own, until the
// successor forms the same ring, which may take a live member a while (it
// may be loading the job); a member stopped meanwhile (SIGSTOP) would hold
// it until the form timeout. So every timeout/2, until ctx ends or stop is
// called, StartProbe asks the successor's gRPC server whether it is alive:
// a live member's server answers at once, even while it loads, and any
// answer will do (a bare transport serves no health); one that answers
// nothing within timeout is stopped or hung, and StartProbe calls cancel
// with an error wrapping allreduce.ErrTimeout, which the caller reads back
// with context.Cause.
//
// stop ends the probing and waits for its goroutine; it may be called more
// than once.
func StartProbe(ctx context.Context, cc grpc.ClientConnInterface, timeout time.Duration, cancel context.CancelCauseFunc) (stop func()) {
	ctx, end := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe(ctx, healthpb.NewHealthClient(cc), timeout, cancel)
	}()
	return sync.OnceFunc(func() {
		end()
		<-done
	})
}

func probe(ctx context.Context, health healthpb.HealthClient, timeout time.Duration, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(timeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, done := context.WithTimeout(ctx, timeout)
		_, err := health.Check(pctx, &healthpb.HealthCheckRequest{})
		done()
		if ctx.Err() == nil && status.Code(err) == codes.DeadlineExceeded {
			cancel(fmt.Errorf("%w: no answer to a health probe within %v", allreduce.ErrTimeout, timeout))
			return
		}
	}
}
