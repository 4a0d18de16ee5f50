package allreduce

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// AllReduce replaces buf, on every member, with the element-wise mean of
// all members' buffers. Every member ends with the same bits. Members call
// it with buffers of the same length, in the same order of calls.
//
// After an error buf is undefined and the ring has failed, but for
// ErrWeight and a ctx done before the call, which leave both untouched.
// Once a call has returned nil the ring no longer reads buf; after a
// failed call gRPC may, until Close returns (and, if the connection was
// already breaking, finish copying one 16 KiB frame of it into that
// connection as Close returns).
func (r *Ring) AllReduce(ctx context.Context, buf []float32) error {
	return AllReduceWeighted(ctx, r, buf, 1)
}

// AllReduceWeighted is AllReduce for a buffer of either precision, with a
// weight: it replaces buf, on every member, with the weighted mean
// Σ wᵢ·bufᵢ / Σ wᵢ of all members' buffers, for instance with wᵢ the size
// of member i's micro-batch. If every weight is zero the result is zero.
// float64 buffers put twice the bytes on the wire, for jobs that train in
// float64; every member of a call must use the same precision.
func AllReduceWeighted[T precision.Float](ctx context.Context, r *Ring, buf []T, weight float64) error {
	v, prec := valuesOf(buf)
	return r.allReduce(ctx, v, prec, weight)
}

func (r *Ring) allReduce(ctx context.Context, buf Values, prec Precision, weight float64) error {
	if math.IsNaN(weight) || math.IsInf(weight, 0) || weight < 0 {
		return fmt.Errorf("%w: got %v", ErrWeight, weight)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("allreduce: call %d not started: %w", r.calls, err)
	}
	call := r.calls
	r.calls++
	if r.m.Size() == 1 {
		r.completed.Store(r.calls)
		return nil // the mean of one buffer is itself
	}
	r.enterCall(call)
	defer r.leaveCall()
	x := &r.x
	x.start(buf, prec, weight, call)
	defer x.finish()
	watched := false
	if ctx.Done() != nil {
		select {
		case r.callCtx <- watchedCall{ctx, call}:
			watched = true
		case <-r.failed:
			return r.Err()
		}
	}
	defer r.unwatch(watched)
	select {
	case r.sendGo <- struct{}{}:
	case <-r.failed:
		return r.Err()
	}
	err := x.receive()
	if err != nil {
		r.fail(err)
	}
	if serr := <-r.sendDone; serr != nil {
		r.fail(serr)
		err = serr
	}
	if err != nil {
		return r.Err()
	}
	// The last frames may still be on their way out of buf, held up by a
	// successor that has stopped reading: the send timeout covers them.
	r.sendTimer.Reset(r.opts.timeout)
	settled := r.next.Settle(r.failed)
	r.sendTimer.Stop()
	if !settled {
		return r.Err()
	}
	r.completed.Store(r.calls)
	return nil
}

// exchange is the state of one call, kept in the Ring so that calls do not
// allocate.
type exchange struct {
	r        *Ring
	sched    schedule
	buf      Values
	prec     Precision
	call     uint64
	weights  []float64 // by rank; filled in during the reduce-scatter
	inv      float64   // 1 / Σ weights, known once the weights are
	expect   int       // the frame the receiver waits for
	received atomic.Int64
	wake     chan struct{} // the receiver tells the waiting sender of progress
	out, in  Frame
	beat     *time.Timer
}

func (x *exchange) init(r *Ring) {
	x.r = r
	x.weights = make([]float64, r.m.Size())
	x.wake = make(chan struct{}, 1)
	x.beat = time.NewTimer(time.Hour)
	x.beat.Stop()
}

func (x *exchange) start(buf Values, prec Precision, weight float64, call uint64) {
	m := x.r.m
	x.sched = newSchedule(buf.Len(), m.Size(), m.Rank, x.r.opts.chunkBytes/prec.Size())
	x.buf, x.prec = buf, prec
	x.call = call
	x.weights[m.Rank] = weight
	x.expect = 0
	x.received.Store(0)
	select {
	case <-x.wake:
	default:
	}
}

// finish drops the caller's buffer, which the Ring must not keep.
func (x *exchange) finish() { x.buf = Values{} }

// send sends every frame of the call to the successor, each as soon as the
// frame it depends on has been received.
func (x *exchange) send() error {
	p, m := x.sched, x.r.m
	for k := range p.frames() {
		t := k / p.chunks
		if t > 0 {
			if err := x.await(int64(k - p.chunks + 1)); err != nil {
				return err
			}
		}
		lo, hi := p.sendRange(k)
		x.out = Frame{Kind: KindData, Job: m.Job, Generation: m.Generation, Call: x.call,
			Step: t, Offset: lo, Total: p.size, Precision: x.prec, Data: x.buf.Slice(lo, hi)}
		if p.reducing(t) {
			// Pass the weights round with the partial sums: by the end of
			// the reduce-scatter every member has all of them.
			x.out.Weight = x.weights[p.mod(m.Rank-t)]
		}
		if err := x.sendFrame(&x.out); err != nil {
			return err
		}
	}
	return nil
}

// await waits until n frames have been received, sending heartbeats to the
// successor meanwhile: it is then waiting on this member, which is alive.
func (x *exchange) await(n int64) error {
	if x.received.Load() >= n {
		return nil
	}
	every := x.r.opts.heartbeat()
	x.beat.Reset(every)
	defer x.beat.Stop()
	for x.received.Load() < n {
		select {
		case <-x.wake:
		case <-x.beat.C:
			m := x.r.m
			x.out = Frame{Kind: KindHeartbeat, Job: m.Job, Generation: m.Generation, Call: x.call}
			if err := x.sendFrame(&x.out); err != nil {
				return err
			}
			x.beat.Reset(every)
		case <-x.r.failed:
			return x.r.err
		}
	}
	return nil
}

func (x *exchange) sendFrame(f *Frame) error {
	r := x.r
	r.sendTimer.Reset(r.opts.timeout)
	err := r.next.Send(f)
	r.sendTimer.Stop()
	if err != nil {
		// A successor that aborts sends its reason back, then ends the
		// link: a failed Send is most often that, and watchNext is about to
		// read the reason, which names the real culprit.
		t := time.NewTimer(r.opts.linger())
		select {
		case <-r.failed:
		case <-t.C:
		}
		t.Stop()
		err = r.linkError(r.m.neighbour(1), err)
		r.fail(err)
	}
	return err
}

// receive receives every frame of the call from the predecessor, adding or
// copying its payload into place (see Place).
func (x *exchange) receive() error {
	p := x.sched
	for k := range p.frames() {
		x.expect = k
		if err := x.recvData(); err != nil {
			return err
		}
		x.received.Store(int64(k + 1))
		select {
		case x.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// recvData receives frames until the next data frame is in place. A
// heartbeat restarts the timeout, for up to twice the timeout after the
// first: a predecessor that is alive but waits that long for its own
// predecessor should have failed and said so.
func (x *exchange) recvData() error {
	r := x.r
	from := r.m.neighbour(-1)
	var waited time.Time
	for {
		r.recvTimer.Reset(r.opts.timeout)
		err := r.prev.Recv(&x.in, x)
		r.recvTimer.Stop()
		if err != nil {
			return r.linkError(from, err)
		}
		switch x.in.Kind {
		case KindData:
			return nil
		case KindAbort:
			return r.aborted(from, &x.in)
		case KindHeartbeat:
			if err := x.checkHeader(&x.in); err != nil {
				return r.peerError(from, err)
			}
			if waited.IsZero() {
				waited = time.Now()
			} else if d := time.Since(waited); d > 2*r.opts.timeout {
				return r.peerError(from, fmt.Errorf("%w: alive but sent no data for %v", ErrTimeout, d))
			}
		default:
			return r.peerError(from, fmt.Errorf("%w: frame kind %d", ErrProtocol, x.in.Kind))
		}
	}
}

func (x *exchange) checkHeader(f *Frame) error {
	m := x.r.m
	if f.Job != m.Job || f.Generation != m.Generation {
		return fmt.Errorf("%w: got %s/%d, want %s/%d", ErrGeneration, f.Job, f.Generation, m.Job, m.Generation)
	}
	if f.Call != x.call {
		return fmt.Errorf("%w: frame of call %d during call %d", ErrProtocol, f.Call, x.call)
	}
	return nil
}

// Place implements Sink: it checks that f is the frame expected next and
// returns where its payload goes.
//
// In the reduce-scatter the payload is added, with the weights applied in
// the same pass; at its last step the sum is complete, and this member,
// which owns the segment, scales it into the mean in the same pass. In the
// all-gather the payload is copied.
func (x *exchange) Place(f *Frame, n int) (Values, Op, error) {
	if err := x.checkHeader(f); err != nil {
		return Values{}, Op{}, err
	}
	p := x.sched
	if f.Total != p.size {
		return Values{}, Op{}, fmt.Errorf("%w: %d elements there, %d here", ErrMismatch, f.Total, p.size)
	}
	if f.Precision != x.prec {
		return Values{}, Op{}, fmt.Errorf("%w: %s there, %s here", ErrMismatch, f.Precision, x.prec)
	}
	t := x.expect / p.chunks
	lo, hi := p.recvRange(x.expect)
	if f.Step != t || f.Offset != lo || n != hi-lo {
		return Values{}, Op{}, fmt.Errorf("%w: got step %d elements [%d,%d), want step %d elements [%d,%d)",
			ErrProtocol, f.Step, f.Offset, f.Offset+n, t, lo, hi)
	}
	if !p.reducing(t) {
		return x.buf.Slice(lo, hi), Op{}, nil
	}
	// Every chunk of a step carries the same weight; the sender reads it
	// from the first on, so it is written once.
	w, i := f.Weight, p.mod(p.rank-1-t)
	first := x.expect%p.chunks == 0
	switch {
	case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
		return Values{}, Op{}, fmt.Errorf("%w: received weight %v", ErrProtocol, w)
	case first:
		x.weights[i] = w
	case x.weights[i] != w:
		return Values{}, Op{}, fmt.Errorf("%w: weight %v changed to %v within a step", ErrProtocol, x.weights[i], w)
	}
	op := Op{Add: true}
	// This member's values are weighed as they are added to, once each;
	// the predecessor's first chunks are its own values, not yet weighed.
	if own := x.weights[p.rank]; own != 1 || t == 0 && w != 1 {
		op.Weigh, op.DstW, op.SrcW = true, own, 1
		if t == 0 {
			op.SrcW = w
		}
	}
	if t == p.n-2 {
		if first {
			// The last weight has just arrived.
			x.inv = x.inverseWeight()
		}
		op.Scale, op.K = x.inv != 1, x.inv
	}
	return x.buf.Slice(lo, hi), op, nil
}

// inverseWeight returns 1/Σ weights, summed in rank order so that every
// member gets the same bits.
func (x *exchange) inverseWeight() float64 {
	var sum float64
	for _, w := range x.weights {
		sum += w
	}
	if sum == 0 {
		return 0
	}
	return 1 / sum
}
