package membership_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/internal/membership"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ttl is as short as Register allows, so that dead members vanish quickly.
const ttl = membership.MinTTL

func ids(ms []membership.Worker) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func register(ctx context.Context, t *testing.T, cli *clientv3.Client, id string) *membership.Registration {
	t.Helper()
	r, err := membership.Register(ctx, cli, membership.Worker{ID: id, Addr: id + ":7000"}, ttl)
	if err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
	return r
}

func TestRegisterListLeave(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))

	// Registered out of order, listed by ID.
	b := register(ctx, t, cli, "b")
	a := register(ctx, t, cli, "a")
	c := register(ctx, t, cli, "c")
	defer c.Close()
	got, rev, err := membership.List(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(ids(got), want) {
		t.Fatalf("list: got %v want %v", ids(got), want)
	}
	if got[0].Addr != "a:7000" || got[0].Started.IsZero() || rev == 0 {
		t.Errorf("list: got member %+v at revision %d, want a at a:7000 with a start time", got[0], rev)
	}
	if a.ID() != "a" || a.Worker().Addr != "a:7000" || a.Lease() == 0 {
		t.Errorf("registration: got ID %q, member %+v, lease %x", a.ID(), a.Worker(), a.Lease())
	}

	// A graceful leave removes the key at once and closes Done.
	if err := a.Close(); err != nil {
		t.Fatalf("closing a: %v", err)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("closing b: %v", err)
	}
	got, _, err = membership.List(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c"}; !slices.Equal(ids(got), want) {
		t.Errorf("list after leave: got %v want %v", ids(got), want)
	}
}

func TestDuplicateID(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))

	first, err := membership.Register(ctx, cli, membership.Worker{ID: "w", Addr: "first:1"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = membership.Register(ctx, cli, membership.Worker{ID: "w", Addr: "second:1"}, ttl)
	if !errors.Is(err, membership.ErrDuplicateID) {
		t.Fatalf("second registration: got %v want ErrDuplicateID", err)
	}
	got, _, err := membership.List(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != "first:1" {
		t.Fatalf("list: got %+v want the first registration only", got)
	}
	// Once the holder has left, the ID is free.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := membership.Register(ctx, cli, membership.Worker{ID: "w", Addr: "second:1"}, ttl)
	if err != nil {
		t.Fatalf("registering after leave: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterRefusesBadMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	for i, test := range []struct {
		m    membership.Worker
		want error
	}{
		{membership.Worker{Addr: "x:1"}, etcdkeys.ErrInvalidID},
		{membership.Worker{ID: "a/b", Addr: "x:1"}, etcdkeys.ErrInvalidID},
		{membership.Worker{ID: "a b", Addr: "x:1"}, etcdkeys.ErrInvalidID},
		{membership.Worker{ID: "a"}, membership.ErrNoAddr},
	} {
		if _, err := membership.Register(ctx, cli, test.m, ttl); !errors.Is(err, test.want) {
			t.Errorf("test %d: got %v want %v", i, err, test.want)
		}
	}
}

// A process that dies does not revoke its lease: its client just goes
// away. Its key must vanish within the TTL.
func TestKilledMemberExpires(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eps := etcdtest.Start(t)
	cli := etcdtest.Client(t, eps)
	doomed := etcdtest.Client(t, eps)

	r, err := membership.Register(ctx, doomed, membership.Worker{ID: "doomed", Addr: "d:1"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	doomed.Close()
	select {
	case <-r.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the client was closed")
	}

	for {
		got, _, err := membership.List(ctx, cli)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// etcd looks for expired leases every 500 ms and revokes them through
	// raft: allow for that and a busy machine on top of the TTL.
	if took, limit := time.Since(killed), ttl+2*time.Second; took > limit {
		t.Errorf("killed member listed for %v, want at most %v", took, limit)
	} else {
		t.Logf("killed member gone after %v", took)
	}
}

// A lease revoked behind the worker's back (as when etcd expires it while
// the worker was cut off) closes Done.
func TestLostLeaseClosesDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	r, err := membership.Register(ctx, cli, membership.Worker{ID: "w", Addr: "w:1"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(ctx, r.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the lease was revoked")
	}
	if err := r.Close(); err != nil {
		t.Errorf("closing a lost registration: got %v want nil", err)
	}
}

func TestWatchJoinsAndLeaves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eps := etcdtest.Start(t)
	cli := etcdtest.Client(t, eps)
	doomed := etcdtest.Client(t, eps)

	early, err := membership.Register(ctx, cli, membership.Worker{ID: "early", Addr: "e:1"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()

	wctx, stop := context.WithCancel(ctx)
	snaps := make(chan membership.Snapshot)
	var g errgroup.Group
	g.Go(func() error {
		return membership.Watch(wctx, cli, func(s membership.Snapshot) error {
			select {
			case snaps <- s:
				return nil
			case <-wctx.Done():
				return wctx.Err()
			}
		})
	})
	var last int64
	expect := func(want ...string) {
		t.Helper()
		select {
		case s := <-snaps:
			if !slices.Equal(ids(s.Members), want) || s.Revision <= last {
				t.Fatalf("snapshot: got %v at revision %d, want %v after revision %d", ids(s.Members), s.Revision, want, last)
			}
			last = s.Revision
		case <-ctx.Done():
			t.Fatalf("no snapshot; want %v", want)
		}
	}

	expect("early")
	a, err := membership.Register(ctx, cli, membership.Worker{ID: "a", Addr: "a:1"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	expect("a", "early")
	if _, err := membership.Register(ctx, doomed, membership.Worker{ID: "z", Addr: "z:1"}, ttl); err != nil {
		t.Fatal(err)
	}
	expect("a", "early", "z")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	expect("early", "z")
	doomed.Close() // z dies: gone within the TTL
	expect("early")

	stop()
	if err := g.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("watch after cancel: got %v want context.Canceled", err)
	}
}

// A registration key that does not decode is reported, not skipped.
func TestCorruptRegistration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	if _, err := cli.Put(ctx, etcdkeys.Worker("bad"), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := membership.List(ctx, cli); err == nil || !strings.Contains(err.Error(), "worker bad") {
		t.Errorf("list: got %v want an error naming worker bad", err)
	}
	err := membership.Watch(ctx, cli, func(membership.Snapshot) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "worker bad") {
		t.Errorf("watch: got %v want an error naming worker bad", err)
	}
}

// A watch that ends without its context ending is an error.
func TestWatchClosed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	err := membership.Watch(ctx, cli, func(membership.Snapshot) error {
		cli.Close()
		return nil
	})
	if !errors.Is(err, membership.ErrWatchClosed) {
		t.Errorf("got %v want ErrWatchClosed", err)
	}
}

// TestEvict: an evicted member is gone from the list at once, its
// registration's Done closes, the others stay, and evicting a member that
// is not registered is no error.
func TestEvict(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	a := register(ctx, t, cli, "a")
	defer a.Close()
	b := register(ctx, t, cli, "b")
	defer b.Close()
	if err := membership.Evict(ctx, cli, "b"); err != nil {
		t.Fatal(err)
	}
	got, _, err := membership.List(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a"}; !slices.Equal(ids(got), want) {
		t.Errorf("after evicting b: %v, want %v", ids(got), want)
	}
	select {
	case <-b.Done():
	case <-ctx.Done():
		t.Error("the evicted registration's Done did not close")
	}
	select {
	case <-a.Done():
		t.Error("evicting b ended a's registration")
	default:
	}
	for _, id := range []string{"b", "never-registered"} {
		if err := membership.Evict(ctx, cli, id); err != nil {
			t.Errorf("evicting %s again: %v", id, err)
		}
	}
}
