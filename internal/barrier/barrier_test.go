package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/ringtrain/ringtrain/internal/barrier"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/pkg/embedetcd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ttl is as short as Register allows, so that dead members vanish quickly.
const ttl = membership.MinTTL

// lossLimit bounds how long a dead member may hang the others: its TTL,
// etcd's 500 ms expiry sweep, and slack for a busy machine.
const lossLimit = ttl + 2*time.Second

// workers is a set of registered workers, each with its own client so that
// one can die (its client closed, its lease left to expire) alone.
type workers struct {
	eps     []string
	cli     *clientv3.Client // an onlooker's: the coordinator's
	clients map[string]*clientv3.Client
	regs    map[string]*membership.Registration
}

func startWorkers(ctx context.Context, t *testing.T, ids ...string) *workers {
	t.Helper()
	eps := etcdtest.Start(t)
	w := &workers{
		eps:     eps,
		cli:     etcdtest.Client(t, eps),
		clients: map[string]*clientv3.Client{},
		regs:    map[string]*membership.Registration{},
	}
	for _, id := range ids {
		w.join(ctx, t, id)
	}
	return w
}

// join registers one more worker.
func (w *workers) join(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	w.clients[id] = etcdtest.Client(t, w.eps)
	reg, err := membership.Register(ctx, w.clients[id], membership.Worker{ID: id, Addr: id + ":1"}, ttl)
	if err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
	w.regs[id] = reg
}

// kill makes a worker die as a process does: no revoke, no more
// keep-alives.
func (w *workers) kill(id string) { w.clients[id].Close() }

// barrier is the barrier of epoch 3 as worker id sees it, through its own
// client.
func (w *workers) barrier(id string, members []string) *barrier.Barrier {
	return barrier.New(w.clients[id], etcdkeys.Barrier("job", 3, 1), members)
}

type outcome struct {
	id       string
	payloads map[string]string
	err      error
	took     time.Duration
}

// arriveAll has every worker in ids arrive at phase with payload
// "sum-<id>", concurrently, and returns what each got, in the order of ids.
func arriveAll(ctx context.Context, w *workers, phase etcdkeys.Phase, members []string, ids ...string) []outcome {
	ch := make(chan outcome)
	start := time.Now()
	for _, id := range ids {
		go func() {
			b := w.barrier(id, members)
			arrive := b.Enter
			if phase == etcdkeys.PhaseLeave {
				arrive = b.Leave
			}
			p, err := arrive(ctx, w.regs[id], "sum-"+id)
			ch <- outcome{id, p, err, time.Since(start)}
		}()
	}
	out := make([]outcome, len(ids))
	for range ids {
		o := <-ch
		out[slices.Index(ids, o.id)] = o
	}
	return out
}

func TestAllMembersPass(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members := []string{"w0", "w1", "w2", "w3"}
	w := startWorkers(ctx, t, members...)
	want := map[string]string{}
	for _, id := range members {
		want[id] = "sum-" + id
	}

	// The coordinator watches the epoch end without taking part.
	observed := make(chan outcome)
	go func() {
		p, err := barrier.New(w.cli, etcdkeys.Barrier("job", 3, 1), members).Wait(ctx, etcdkeys.PhaseLeave)
		observed <- outcome{payloads: p, err: err}
	}()

	for _, phase := range []etcdkeys.Phase{etcdkeys.PhaseEnter, etcdkeys.PhaseLeave} {
		for _, o := range arriveAll(ctx, w, phase, members, members...) {
			if o.err != nil || !maps.Equal(o.payloads, want) {
				t.Errorf("%s %s: got %v, %v want %v", o.id, phase, o.payloads, o.err, want)
			}
		}
	}
	if o := <-observed; o.err != nil || !maps.Equal(o.payloads, want) {
		t.Errorf("coordinator: got %v, %v want %v", o.payloads, o.err, want)
	}
	// The barrier passed: a late arrival passes too.
	p, err := w.barrier("w0", members).Enter(ctx, w.regs["w0"], "sum-w0")
	if err != nil || !maps.Equal(p, want) {
		t.Errorf("late enter: got %v, %v want %v", p, err, want)
	}
}

func TestMemberNeverArrives(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members := []string{"w0", "w1", "w2"}
	w := startWorkers(ctx, t, members...)

	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	for _, o := range arriveAll(short, w, etcdkeys.PhaseEnter, members, "w0", "w1") {
		var stalled *barrier.StalledError
		if !errors.Is(o.err, context.DeadlineExceeded) || !errors.As(o.err, &stalled) || !slices.Equal(stalled.Missing, []string{"w2"}) {
			t.Errorf("%s: got %v want a deadline error naming w2", o.id, o.err)
		}
		if o.took < 400*time.Millisecond {
			t.Errorf("%s: returned after %v, before its deadline", o.id, o.took)
		}
	}

	// Arrivals stay when their waiters give up: w2 still meets them.
	p, err := w.barrier("w2", members).Enter(ctx, w.regs["w2"], "sum-w2")
	if err != nil || len(p) != 3 {
		t.Errorf("w2 arriving last: got %v, %v want all three payloads", p, err)
	}
}

func TestMemberDiesWhileOthersWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	members := []string{"w0", "w1", "w2"}
	w := startWorkers(ctx, t, members...)

	done := make(chan []outcome)
	go func() { done <- arriveAll(ctx, w, etcdkeys.PhaseEnter, members, "w0", "w1") }()
	time.Sleep(100 * time.Millisecond) // let them wait
	w.kill("w2")
	killed := time.Now()
	for _, o := range <-done {
		var lost *barrier.LostError
		if !errors.As(o.err, &lost) || !slices.Equal(lost.Members, []string{"w2"}) || !errors.Is(o.err, barrier.ErrMemberLost) {
			t.Errorf("%s: got %v want w2 lost", o.id, o.err)
		}
	}
	if took := time.Since(killed); took > lossLimit {
		t.Errorf("dead member noticed after %v, want within %v", took, lossLimit)
	} else {
		t.Logf("dead member noticed after %v", took)
	}
}

// A member that arrives and then dies before the others arrive fails the
// phase for all of them, also for those arriving after it died.
func TestMemberDiesAfterArriving(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	members := []string{"w0", "w1", "w2"}
	w := startWorkers(ctx, t, members...)

	done := make(chan []outcome)
	go func() { done <- arriveAll(ctx, w, etcdkeys.PhaseLeave, members, "w1", "w2") }()
	time.Sleep(100 * time.Millisecond)
	w.kill("w2")
	for _, o := range <-done {
		if o.id == "w1" && !errors.Is(o.err, barrier.ErrMemberLost) {
			t.Errorf("w1: got %v want w2 lost", o.err)
		}
	}
	start := time.Now()
	_, err := w.barrier("w0", members).Leave(ctx, w.regs["w0"], "sum-w0")
	var lost *barrier.LostError
	if !errors.As(err, &lost) || !slices.Equal(lost.Members, []string{"w2"}) || lost.Phase != etcdkeys.PhaseLeave {
		t.Errorf("w0 arriving after w2 died: got %v want w2 lost at leave", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("w0 judged after %v, want at once", took)
	}
}

func TestNotAMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := startWorkers(ctx, t, "w0", "w1")
	_, err := w.barrier("w1", []string{"w0"}).Enter(ctx, w.regs["w1"], "")
	if !errors.Is(err, barrier.ErrNotMember) {
		t.Errorf("got %v want ErrNotMember", err)
	}
}

// unregistered is a participant whose lease is not its registration's.
type unregistered struct{ lease clientv3.LeaseID }

func (unregistered) ID() string                { return "w0" }
func (u unregistered) Lease() clientv3.LeaseID { return u.lease }

func TestArrivingUnregisteredIsLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := startWorkers(ctx, t, "w0")
	grant, err := w.cli.Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.barrier("w0", []string{"w0"}).Enter(ctx, unregistered{grant.ID}, "")
	var lost *barrier.LostError
	if !errors.As(err, &lost) || !slices.Equal(lost.Members, []string{"w0"}) {
		t.Errorf("got %v want w0 lost", err)
	}
}

// A closed watch must be an error, never a pass.
func TestClosedWatchIsAnError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := startWorkers(ctx, t, "w0", "w1")
	errc := make(chan error)
	go func() {
		_, err := w.barrier("w0", []string{"w0", "w1"}).Enter(ctx, w.regs["w0"], "")
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	w.clients["w0"].Close()
	if err := <-errc; err == nil || errors.Is(err, barrier.ErrMemberLost) {
		t.Errorf("got %v want a watch error", err)
	} else {
		t.Logf("got %v", err)
	}
}

func ExampleBarrier() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "barrier-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := embedetcd.Start(ctx, embedetcd.Config{Dir: dir, ClientURL: "http://127.0.0.1:0", Fast: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	cli, err := s.NewClient()
	if err != nil {
		panic(err)
	}
	defer cli.Close()

	reg, err := membership.Register(ctx, cli, membership.Worker{ID: "w0", Addr: "127.0.0.1:7000"}, 0)
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	b := barrier.New(cli, etcdkeys.Barrier("job", 0, 0), []string{"w0"})
	sums, err := b.Enter(ctx, reg, "checksum-before")
	fmt.Println(sums, err)
	sums, err = b.Leave(ctx, reg, "checksum-after")
	fmt.Println(sums, err)
	// Output:
	// map[w0:checksum-before] <nil>
	// map[w0:checksum-after] <nil>
}
