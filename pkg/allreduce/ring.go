package allreduce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Ring is one member's handle on a ring of a given generation. Its calls
// are serialised; a Ring that has failed stays failed, and the member forms
// a new one, of a new generation, to go on.
type Ring struct {
	m    Membership
	opts options
	log  *slog.Logger
	prev Link // from rank-1: data in, aborts out
	next Link // to rank+1: data out, aborts in

	mu    sync.Mutex // held by a call, and by Close while it waits for one
	calls uint64
	x     exchange

	// completed counts the calls that returned successfully; aborts carry
	// it, so that a neighbour still inside one of those calls finishes it
	// before failing (see deferFailure).
	completed atomic.Uint64
	callMu    sync.Mutex // guards inCall, current and pending
	inCall    bool
	current   uint64
	pending   error // a failure to report when the current call ends

	failOnce sync.Once
	failed   chan struct{} // closed on the first failure, Close included
	err      error         // the first failure; set before failed is closed

	// recvTimer and sendTimer fire when a neighbour has kept this member
	// waiting for longer than the timeout.
	recvTimer, sendTimer *time.Timer
	wg                   sync.WaitGroup // supervise, watchNext, sender and watchCalls

	// A call hands its sends to sender and its context to watchCalls,
	// goroutines as old as the ring, since one made per call would be an
	// allocation per call.
	sendGo   chan struct{}
	sendDone chan error
	callCtx  chan watchedCall
	callEnd  chan struct{}
}

// watchedCall is a call whose context watchCalls watches.
type watchedCall struct {
	ctx  context.Context
	call uint64
}

// NewRing forms this member's side of the ring m through t. It returns once
// both neighbours have formed theirs and the links are open, so members call
// it at about the same time; ctx bounds the wait.
func NewRing(ctx context.Context, t Transport, m Membership, opts ...Option) (*Ring, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	m.Addrs = append([]string(nil), m.Addrs...)
	r := &Ring{
		m:      m,
		opts:   o,
		log:    o.log.With("job", m.Job, "generation", m.Generation, "rank", m.Rank),
		failed: make(chan struct{}),
	}
	r.x.init(r)
	if m.Size() == 1 {
		return r, nil
	}
	prev, next, err := t.Connect(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("allreduce: form ring %s/%d as rank %d: %w", m.Job, m.Generation, m.Rank, err)
	}
	r.prev, r.next = prev, next
	r.recvTimer = time.AfterFunc(o.timeout, func() {
		r.fail(r.peerError(r.m.neighbour(-1), fmt.Errorf("%w: nothing received for %v", ErrTimeout, o.timeout)))
	})
	r.recvTimer.Stop()
	r.sendTimer = time.AfterFunc(o.timeout, func() {
		r.fail(r.peerError(r.m.neighbour(1), fmt.Errorf("%w: could not send for %v", ErrTimeout, o.timeout)))
	})
	r.sendTimer.Stop()
	r.sendGo, r.sendDone = make(chan struct{}), make(chan error, 1)
	r.callCtx, r.callEnd = make(chan watchedCall), make(chan struct{})
	r.wg.Add(4)
	go r.supervise()
	go r.watchNext()
	go r.sender()
	go r.watchCalls()
	r.log.Debug("allreduce: ring formed", "size", m.Size())
	return r, nil
}

// Membership returns the membership the ring was formed with.
func (r *Ring) Membership() Membership {
	m := r.m
	m.Addrs = append([]string(nil), m.Addrs...)
	return m
}

// Done returns a channel that is closed when the ring fails or is closed,
// so that a member can notice a neighbour's failure between calls.
func (r *Ring) Done() <-chan struct{} { return r.failed }

// Err returns nil while the ring works, and then why it stopped: a
// *PeerError naming the member at fault, a cancelled call's context error,
// or ErrClosed.
func (r *Ring) Err() error {
	select {
	case <-r.failed:
		return r.err
	default:
		return nil
	}
}

// Close tells the neighbours that this member is leaving, interrupts a call
// in progress (which returns ErrClosed), and returns once every goroutine
// of the ring has exited and its connections are closed. A failed call's
// buffer may be read until then (see AllReduce).
func (r *Ring) Close() error {
	r.fail(ErrClosed)
	r.mu.Lock() // a call in progress returns once the links are closed
	defer r.mu.Unlock()
	r.wg.Wait()
	if r.recvTimer != nil {
		// The call may have re-armed them after supervise stopped them.
		r.recvTimer.Stop()
		r.sendTimer.Stop()
	}
	return nil
}

// fail records the ring's first failure and wakes everything that watches
// for it; supervise then tears the links down.
func (r *Ring) fail(err error) {
	r.failOnce.Do(func() {
		r.err = err
		close(r.failed)
		// Debug, not Warn: a failure during a call comes back from that call
		// for its caller to report, and a peer leaving after the last call
		// (the end of every epoch) is no failure at all.
		r.log.Debug("allreduce: ring stopped", "err", err)
	})
}

// enterCall and leaveCall bracket a call, so that a neighbour's failure
// that does not concern it can wait for its end.
func (r *Ring) enterCall(call uint64) {
	r.callMu.Lock()
	r.inCall, r.current = true, call
	r.callMu.Unlock()
}

func (r *Ring) leaveCall() {
	r.callMu.Lock()
	err := r.pending
	r.inCall, r.pending = false, nil
	r.callMu.Unlock()
	if err != nil {
		r.fail(err)
	}
}

// deferFailure holds back err, an abort from a neighbour that had completed
// completed calls, while this member is inside one of those calls, and
// reports whether it did. The neighbour sent everything this call needs
// from it before it sent the abort, and every other member it depends on
// had done its part too, or the neighbour could not have completed: so a
// member that closes its ring right after its last call does not fail the
// others' last call. The failure takes effect when the call ends.
func (r *Ring) deferFailure(err error, completed uint64) bool {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	if !r.inCall || r.current >= completed {
		return false
	}
	if r.pending == nil {
		r.pending = err
	}
	return true
}

// peerError blames rank for err, as detected here.
func (r *Ring) peerError(rank int, err error) *PeerError {
	return &PeerError{Rank: rank, Addr: r.m.Addrs[rank], Reporter: r.m.Rank, Err: err}
}

// linkError turns an error from the link to neighbour rank into the ring's
// failure: a consequence of an earlier failure is that failure; an error
// that names its cause (a stale or malformed frame) blames the neighbour
// with it; anything else is the neighbour's link breaking.
func (r *Ring) linkError(rank int, err error) error {
	if e := r.Err(); e != nil {
		return e
	}
	var pe *PeerError
	switch {
	case errors.As(err, &pe):
		return err
	case reasonOf(err) != 0:
		return r.peerError(rank, err)
	default:
		return r.peerError(rank, fmt.Errorf("%w: %v", ErrDisconnected, err))
	}
}

// aborted turns an abort frame from neighbour from into the ring's failure.
func (r *Ring) aborted(from int, f *Frame) error {
	if f.Job != r.m.Job || f.Generation != r.m.Generation {
		return r.peerError(from, fmt.Errorf("%w: abort for %s/%d", ErrGeneration, f.Job, f.Generation))
	}
	if f.Abort == nil {
		return r.peerError(from, fmt.Errorf("%w: abort without a culprit", ErrProtocol))
	}
	a := *f.Abort
	if a.Rank < 0 || a.Rank >= r.m.Size() || a.Reporter < 0 || a.Reporter >= r.m.Size() {
		return r.peerError(from, fmt.Errorf("%w: abort names rank %d, reported by %d, of %d", ErrProtocol, a.Rank, a.Reporter, r.m.Size()))
	}
	a.Addr = r.m.Addrs[a.Rank]
	return &a
}

// culprit is the PeerError this member passes on when its ring fails: the
// one it detected or was told of, or, when it failed of its own accord
// (cancelled, closed), itself.
func (r *Ring) culprit() *PeerError {
	var pe *PeerError
	if errors.As(r.err, &pe) {
		return pe
	}
	return &PeerError{Rank: r.m.Rank, Addr: r.m.Addrs[r.m.Rank], Reporter: r.m.Rank,
		Err: fmt.Errorf("%w: %v", ErrLeft, r.err)}
}

// supervise waits for the ring to fail, tells both neighbours why, so that
// the abort travels round the ring both ways, and closes the links, which
// unblocks any Send or Recv in progress.
func (r *Ring) supervise() {
	defer r.wg.Done()
	<-r.failed
	r.recvTimer.Stop()
	r.sendTimer.Stop()
	abort := Frame{Kind: KindAbort, Job: r.m.Job, Generation: r.m.Generation, Call: r.completed.Load(), Abort: r.culprit()}
	// A neighbour that is stalled cannot take the abort: do not wait on it
	// for long, since closing the links is what lets a call return.
	expired := make(chan struct{})
	t := time.AfterFunc(r.opts.linger(), func() { close(expired) })
	defer t.Stop()
	// Both links at once: a link's Close may wait for the other end to end
	// it too, which a neighbour does only once it has closed the link on
	// its other side, so links closed one after the other would wait on
	// each other round the ring. An abort going back never waits for flow
	// control, since nothing else goes back.
	var wg sync.WaitGroup
	for _, l := range []Link{r.prev, r.next} {
		wg.Go(func() {
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				_ = l.Send(&abort) // best effort: the neighbour may be the one that failed
			}()
			select {
			case <-sent:
			case <-expired:
			}
			l.Close()
			<-sent
		})
	}
	wg.Wait()
}

// sender runs each call's sends (exchange.send) until the ring fails.
func (r *Ring) sender() {
	defer r.wg.Done()
	for {
		select {
		case <-r.sendGo:
			r.sendDone <- r.x.send()
		case <-r.failed:
			return
		}
	}
}

// watchCalls fails the ring when the context of the call in progress
// ends before the call does, which closes the links and so unblocks the
// call's sends and receives.
func (r *Ring) watchCalls() {
	defer r.wg.Done()
	for {
		var c watchedCall
		select {
		case c = <-r.callCtx:
		case <-r.failed:
			return
		}
		select {
		case <-c.ctx.Done():
			r.fail(fmt.Errorf("allreduce: call %d interrupted: %w", c.call, c.ctx.Err()))
		case <-r.callEnd:
		case <-r.failed:
			return
		}
	}
}

// unwatch tells watchCalls that the call it watches has ended.
func (r *Ring) unwatch(watched bool) {
	if !watched {
		return
	}
	select {
	case r.callEnd <- struct{}{}:
	case <-r.failed:
	}
}

// watchNext reads what the successor sends back, which is at most an abort,
// so that a failure downstream reaches this member even between calls. It
// reads until the link ends, which is how the link learns that the
// successor has ended it.
func (r *Ring) watchNext() {
	defer r.wg.Done()
	var f Frame
	deferred := false
	for {
		err := r.next.Recv(&f, nil)
		switch {
		case err != nil:
			if !deferred {
				// After an abort the link's end is expected, not news.
				r.fail(r.linkError(r.m.neighbour(1), err))
			}
			return
		case f.Kind == KindAbort:
			err := r.aborted(r.m.neighbour(1), &f)
			if r.deferFailure(err, f.Call) {
				deferred = true
				continue
			}
			r.fail(err)
		default:
			r.fail(r.peerError(r.m.neighbour(1), fmt.Errorf("%w: frame kind %d sent backwards", ErrProtocol, f.Kind)))
		}
	}
}
