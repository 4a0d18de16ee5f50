package tcpnet

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// member is a transport over mutual TLS with the certificate of a worker.
func member(t *testing.T, dir, name string) (*Transport, string) {
	t.Helper()
	cfg, err := secure.LoadNamed(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := New(data, "", WithLogger(quiet), WithTLS(cfg.Peer()), WithFormTimeout(2*time.Second))
	s := grpc.NewServer(cfg.PeerServerOption())
	tr.Register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		tr.Close()
		s.Stop()
		<-done
	})
	return tr, lis.Addr().String()
}

// TestIdentities: over TLS, a ring forms only when each member's
// certificate names the ID the membership gives its rank; a member cannot
// take another's place by its address.
func TestIdentities(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{Workers: 3}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ids  []string // what the plan says ranks 0 and 1 are; worker-1 and worker-2 are
		ok   bool
	}{
		{"the plan's workers", []string{"worker-1", "worker-2"}, true},
		{"rank 1 is not who the plan says", []string{"worker-1", "worker-3"}, false},
		{"rank 0 is not who the plan says", []string{"worker-3", "worker-2"}, false},
	}
	for gen, tc := range tests {
		a, aAddr := member(t, dir, "worker-1")
		b, bAddr := member(t, dir, "worker-2")
		// Each member forms on its own, as in two processes: one's failure
		// does not cancel the other's attempt.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for r, tr := range []*Transport{a, b} {
			wg.Go(func() {
				prev, next, err := tr.Connect(ctx, allreduce.Membership{Job: "j", Generation: uint64(gen + 1), Rank: r, Addrs: []string{aAddr, bAddr}, IDs: tc.ids})
				if err == nil {
					prev.Close()
					next.Close()
				}
				errs[r] = err
			})
		}
		wg.Wait()
		cancel()
		if tc.ok != (errs[0] == nil && errs[1] == nil) {
			t.Errorf("%s: got %v, want success %v", tc.name, errs, tc.ok)
			continue
		}
		// The impostor is blamed by the member that dialled it. (What the
		// impostor reports depends on timing: refused, or its successor
		// gone; nobody need believe it.)
		impostor := 0
		if tc.ids[1] != "worker-2" {
			impostor = 1
		}
		var pe *allreduce.PeerError
		if !tc.ok && (!errors.As(errs[1-impostor], &pe) || pe.Rank != impostor) {
			t.Errorf("%s: rank %d's error %v does not blame rank %d", tc.name, 1-impostor, errs[1-impostor], impostor)
		}
	}
}
