// Package forming keeps the rings a member is forming until each has its
// link from its predecessor: the rendezvous state that every transport
// whose predecessors call in over gRPC (PeerService) needs. A member opens
// an inbox for (job, generation, rank) while it forms a ring; a
// predecessor's call claims it, which waits until the inbox is open and
// refuses a generation older than one the member has formed; the link the
// predecessor then opens is delivered into it. The predecessor, meanwhile,
// probes its successor (StartProbe), so that one stopped while the ring
// forms is named within the peer timeout.
//
// It knows nothing of what a link carries, only that it can be closed.
package forming

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// ErrClosed is returned once the table is closed.
var ErrClosed = errors.New("allreduce: transport closed")

// Key names the inbox of one member of one ring.
type Key struct {
	Job  string
	Gen  uint64
	Rank int
}

// Inbox is where a forming ring waits for the link from its predecessor.
// Its fields are guarded by the table's lock: read and written in Open's
// and Claim's callbacks, and in Admit's.
type Inbox[L, E any] struct {
	Size    int
	Prev    string // the predecessor's identity, when checked
	Claimed bool   // a predecessor's call has claimed it
	Extra   E      // what the transport keeps with it
	dead    bool   // the ring stopped waiting
	link    chan L
}

// Table is a member's inboxes. The zero value is not usable: use New.
type Table[L, E any] struct {
	formTimeout time.Duration
	done        chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	changed chan struct{} // closed and replaced when an inbox opens
	inboxes map[Key]*Inbox[L, E]
	latest  map[string]uint64 // job → newest generation formed here
}

// New returns an empty table whose claims wait at most formTimeout for
// their inbox to open.
func New[L, E any](formTimeout time.Duration) *Table[L, E] {
	return &Table[L, E]{
		formTimeout: formTimeout,
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
		inboxes:     map[Key]*Inbox[L, E]{},
		latest:      map[string]uint64{},
	}
}

// Connect forms m's side of a ring through t: it opens m's inbox, opens
// the link to the successor with dial, then waits for the predecessor's
// link to be delivered into the inbox. However it ends, the inbox is
// removed, and a link delivered after Connect stopped waiting is closed.
func Connect[L allreduce.Link, E any, N allreduce.Link](ctx context.Context, t *Table[L, E], m allreduce.Membership, dial func(context.Context, allreduce.Membership) (N, error)) (prev, next allreduce.Link, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	key := Key{Job: m.Job, Gen: m.Generation, Rank: m.Rank}
	ib, err := t.Open(key, m.Size(), m.ID(m.Prev()))
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if left, ok := t.Remove(key); ok {
			left.Close()
		}
	}()
	nl, err := dial(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	pl, err := t.Wait(ctx, ib)
	if err != nil {
		nl.Close()
		from := m.Prev()
		return nil, nil, fmt.Errorf("allreduce: waiting for rank %d (%s) to connect: %w", from, m.Addrs[from], err)
	}
	return pl, nl, nil
}

// Done is closed when the table is.
func (t *Table[L, E]) Done() <-chan struct{} { return t.done }

// Close refuses new inboxes and claims, and wakes those waiting; it
// returns false if the table was already closed.
func (t *Table[L, E]) Close() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.closed = true
	close(t.done)
	return true
}

// Open opens the inbox of key, for a ring of size members whose
// predecessor's TLS certificate must name prev (not checked when prev is
// empty or the call comes without TLS). It refuses a
// generation older than one formed here with an error wrapping
// allreduce.ErrGeneration.
func (t *Table[L, E]) Open(key Key, size int, prev string) (*Inbox[L, E], error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return nil, ErrClosed
	case t.latest[key.Job] > key.Gen:
		return nil, fmt.Errorf("%w: this member has formed %s/%d, not %d", allreduce.ErrGeneration, key.Job, t.latest[key.Job], key.Gen)
	case t.inboxes[key] != nil:
		return nil, fmt.Errorf("allreduce: rank %d of %s/%d is already forming", key.Rank, key.Job, key.Gen)
	}
	t.latest[key.Job] = key.Gen
	ib := &Inbox[L, E]{Size: size, Prev: prev, link: make(chan L, 1)}
	t.inboxes[key] = ib
	close(t.changed)
	t.changed = make(chan struct{})
	return ib, nil
}

// Wait waits for the link delivered into ib, ctx's end or the table's
// closing.
func (t *Table[L, E]) Wait(ctx context.Context, ib *Inbox[L, E]) (L, error) {
	var zero L
	select {
	case l := <-ib.link:
		return l, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-t.done:
		return zero, ErrClosed
	}
}

// Remove removes the inbox of key and returns a link delivered into it
// that nobody took, for the caller to close.
func (t *Table[L, E]) Remove(key Key) (left L, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ib := t.inboxes[key]
	delete(t.inboxes, key)
	ib.dead = true
	select {
	case left = <-ib.link:
		return left, true
	default:
		return left, false
	}
}

// Claim waits for this member to open the inbox that h, a predecessor's
// call, is addressed to, and claims it, calling claimed under the table's
// lock. Its errors are gRPC statuses, for the call to return:
// FAILED_PRECONDITION for a generation older than one formed here.
func (t *Table[L, E]) Claim(ctx context.Context, job string, gen uint64, from, to, size uint32, claimed func(*Inbox[L, E]) error) (*Inbox[L, E], error) {
	key := Key{job, gen, int(to)}
	timeout := time.NewTimer(t.formTimeout)
	defer timeout.Stop()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, status.Error(codes.Unavailable, ErrClosed.Error())
		}
		if g := t.latest[job]; g > gen {
			t.mu.Unlock()
			return nil, status.Errorf(codes.FailedPrecondition, "rank %d has formed %s/%d, not %d", to, job, g, gen)
		}
		if ib := t.inboxes[key]; ib != nil {
			defer t.mu.Unlock()
			switch {
			case size == 0 || ib.Size != int(size) || (from+1)%size != to:
				return nil, status.Errorf(codes.InvalidArgument, "allreduce: link %d→%d of %d into a ring of %d", from, to, size, ib.Size)
			case ib.Claimed:
				return nil, status.Errorf(codes.AlreadyExists, "allreduce: rank %d of %s/%d already has a predecessor", to, job, gen)
			}
			if p, ok := secure.Identity(ctx); ok && ib.Prev != "" && p.Name != ib.Prev {
				return nil, status.Errorf(codes.PermissionDenied, "allreduce: rank %d of %s/%d is %q's, not %q's", from, job, gen, ib.Prev, p.Name)
			}
			if err := claimed(ib); err != nil {
				return nil, status.Errorf(codes.Internal, "allreduce: claim rank %d of %s/%d: %v", to, job, gen, err)
			}
			ib.Claimed = true
			return ib, nil
		}
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-t.done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-timeout.C:
			return nil, status.Errorf(codes.DeadlineExceeded, "allreduce: %s/%d not formed here within %v", job, gen, t.formTimeout)
		}
	}
}

// Admit returns the inbox of key if check, run under the table's lock on a
// claimed inbox still waiting, accepts it.
func (t *Table[L, E]) Admit(key Key, check func(*Inbox[L, E]) error) (*Inbox[L, E], error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ib := t.inboxes[key]
	if ib == nil || !ib.Claimed || ib.dead {
		return nil, fmt.Errorf("no ring %s/%d waits for a predecessor at rank %d", key.Job, key.Gen, key.Rank)
	}
	if err := check(ib); err != nil {
		return nil, err
	}
	return ib, nil
}

// Deliver hands l to the ring forming in ib, unless it has stopped waiting
// or the table is closed.
func (t *Table[L, E]) Deliver(ib *Inbox[L, E], l L) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ib.dead || t.closed {
		return false
	}
	ib.link <- l
	return true
}
