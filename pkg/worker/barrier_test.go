package worker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ringtrain/ringtrain/internal/barrier"
	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/memnet"
)

// TestAtBarrier checks how a worker's wait at an epoch barrier ends when a
// member does not come: a member whose process dies ends it at once with
// the ring's error naming it; a member that stalls (no arrival, its links
// up) ends it after the ring timeout, named as the one awaited; a member
// that leaves the ring after passing the barrier does not end it.
func TestAtBarrier(t *testing.T) {
	const timeout = 200 * time.Millisecond
	plan := &epoch.Plan{Members: []epoch.Member{{ID: "w0", Addr: "a"}, {ID: "w1", Addr: "b"}, {ID: "w2", Addr: "c"}}}
	tests := []struct {
		name    string
		other   func(net *memnet.Network, rings []*allreduce.Ring) // what w1 does while w0 waits
		arrives bool                                               // the barrier passes, late
		missing []string                                           // whom the barrier awaits at the end
		culprit string
		within  time.Duration
	}{
		{"member dies", func(net *memnet.Network, _ []*allreduce.Ring) { net.Disconnect("b") }, false, []string{"w1"}, "w1", timeout / 2},
		{"member stalls", func(*memnet.Network, []*allreduce.Ring) {}, false, []string{"w1"}, "w1", 10 * timeout},
		// Several awaited may be waiting on one of them: none is blamed.
		{"members stall", func(*memnet.Network, []*allreduce.Ring) {}, false, []string{"w1", "w2"}, "", 10 * timeout},
		{"member leaves after passing", func(_ *memnet.Network, rings []*allreduce.Ring) { rings[1].Close() }, true, nil, "", 10 * timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			net := memnet.NewNetwork(1)
			rings := formRings(t, net, plan)
			defer func() {
				for _, r := range rings {
					r.Close()
				}
			}()
			w := &Worker{cfg: Config{RingTimeout: timeout}}
			start := time.Now()
			// w0 waits for w1, whose arrival comes (if it does) only after
			// what the case does to it.
			sums, err := w.atBarrier(context.Background(), rings[0], timeout, func(ctx context.Context) (map[string]string, error) {
				tc.other(net, rings)
				if tc.arrives {
					select {
					case <-time.After(timeout / 2):
						return map[string]string{"w0": "s", "w1": "s", "w2": "s"}, nil
					case <-ctx.Done():
					}
				}
				<-ctx.Done()
				return nil, &barrier.StalledError{Missing: tc.missing, Err: ctx.Err()}
			})
			took := time.Since(start)
			if tc.arrives {
				if err != nil || len(sums) != 3 {
					t.Fatalf("got %v, %v; want the barrier passed", sums, err)
				}
				return
			}
			if got := culprit(plan, err); got != tc.culprit || took > tc.within {
				t.Errorf("after %v: error %v names %q, want %q within %v", took, err, got, tc.culprit, tc.within)
			}
		})
	}
}

// formRings forms plan's ring on net, one member per address.
func formRings(t *testing.T, net *memnet.Network, plan *epoch.Plan) []*allreduce.Ring {
	t.Helper()
	rings := make([]*allreduce.Ring, len(plan.Members))
	errs := make([]error, len(plan.Members))
	var wg sync.WaitGroup
	for rank := range plan.Members {
		wg.Go(func() {
			rings[rank], errs[rank] = allreduce.NewRing(context.Background(), net,
				allreduce.Membership{Job: "j", Generation: 1, Rank: rank, Addrs: plan.Addrs()}, allreduce.WithTimeout(time.Minute))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return rings
}

// TestEnterBarrier: at the enter barrier one member awaited after the ring
// timeout is stalled, and named; several are waited for longer (a member
// still loading the job holds up its neighbours' ring), and pass once they
// come.
func TestEnterBarrier(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cli := etcdtest.Client(t, etcdtest.Start(t))
	plan := &epoch.Plan{Members: []epoch.Member{{ID: "w0", Addr: "a"}, {ID: "w1", Addr: "b"}, {ID: "w2", Addr: "c"}}}
	regs := map[string]*membership.Registration{}
	for _, id := range plan.IDs() {
		reg, err := membership.Register(t.Context(), cli, membership.Worker{ID: id, Addr: "127.0.0.1:1"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		regs[id] = reg
	}
	tests := []struct {
		name    string
		prompt  []string // arrive with w0
		late    []string // arrive after twice the ring timeout; the rest never do
		culprit string   // "" when the barrier passes
	}{
		{"one hung", []string{"w1"}, nil, "w2"},
		{"two late", nil, []string{"w1", "w2"}, ""},
	}
	for gen, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			net := memnet.NewNetwork(1)
			rings := formRings(t, net, plan)
			defer func() {
				for _, r := range rings {
					r.Close()
				}
			}()
			bar := barrier.New(cli, etcdkeys.Barrier("j", 0, uint64(gen+1)), plan.IDs())
			ctx, cancel := context.WithCancel(t.Context())
			var arrivals sync.WaitGroup
			defer arrivals.Wait()
			defer cancel()
			for _, id := range append(slices.Clone(tc.prompt), tc.late...) {
				arrivals.Go(func() {
					if slices.Contains(tc.late, id) {
						time.Sleep(2 * timeout)
					}
					bar.Enter(ctx, regs[id], "s")
				})
			}
			w := &Worker{cfg: Config{RingTimeout: timeout}}
			sums, err := w.enterBarrier(t.Context(), rings[0], bar, regs["w0"], "s")
			switch {
			case tc.culprit == "" && (err != nil || len(sums) != 3):
				t.Errorf("got %v, %v; want the barrier passed", sums, err)
			case tc.culprit != "" && culprit(plan, err) != tc.culprit:
				t.Errorf("got %v, naming %q; want %q named", err, culprit(plan, err), tc.culprit)
			}
		})
	}
}
