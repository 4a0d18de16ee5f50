package grpcnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

var errLinkClosed = errors.New("allreduce: link closed")

// clientLink is a member's link to its successor: the client end of a Link
// stream.
type clientLink struct {
	cc     *grpc.ClientConn
	stream grpc.ClientStream
	cancel context.CancelCauseFunc
	pool   *slotPool
	linger time.Duration

	sendMu    sync.Mutex
	halfClose bool // guarded by sendMu
	out       encodedChunk
	unsent    unsent
	resp      ringtrainv1.LinkResponse // used by Recv only
	ended     chan struct{}            // closed when Recv has seen the stream end
	endOnce   sync.Once
	closeOnce sync.Once
}

// Send implements Link.
func (l *clientLink) Send(f *allreduce.Frame) error {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if l.halfClose {
		return errLinkClosed
	}
	var err error
	switch f.Kind {
	case allreduce.KindData:
		l.out.bufs = l.encode(f)
		err = l.stream.SendMsg(&l.out)
		l.out.bufs = nil
	case allreduce.KindHeartbeat:
		err = l.stream.SendMsg(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Heartbeat{
			Heartbeat: &ringtrainv1.Heartbeat{Job: f.Job, Generation: f.Generation, Call: f.Call}}})
	case allreduce.KindAbort:
		err = l.stream.SendMsg(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Abort{Abort: allreduce.AbortMessage(f)}})
	default:
		return fmt.Errorf("%w: frame kind %d", allreduce.ErrProtocol, f.Kind)
	}
	if err == io.EOF {
		// The stream has ended; RecvMsg has the status, which Recv reports.
		return fmt.Errorf("%w: successor ended the link", allreduce.ErrDisconnected)
	}
	return err
}

// encode turns f into the buffers SendMsg writes. A payload large enough
// for gRPC to release it when written is not copied: gRPC writes it from
// f.Data, and Settle waits for the release. The header, and a payload too
// small for that, are copied into a pooled buffer.
func (l *clientLink) encode(f *allreduce.Frame) mem.BufferSlice {
	if b, ok := f.Data.WireBytes(); ok && !mem.IsBelowBufferPoolingThreshold(len(b)) {
		h := l.pool.Get(maxHeader)
		*h = appendChunkHeader((*h)[:0], f)
		return mem.BufferSlice{mem.NewBuffer(h, l.pool), l.unsent.track(b)}
	}
	p := l.pool.Get(chunkSize(f))
	*p = appendChunk((*p)[:0], f)
	return mem.BufferSlice{mem.NewBuffer(p, l.pool)}
}

// Settle implements Link.
func (l *clientLink) Settle(stop <-chan struct{}) bool { return l.unsent.wait(stop) }

// Recv implements Link: only an abort comes back from the successor.
func (l *clientLink) Recv(f *allreduce.Frame, _ allreduce.Sink) error {
	if err := l.stream.RecvMsg(&l.resp); err != nil {
		l.endOnce.Do(func() { close(l.ended) })
		if err == io.EOF {
			return fmt.Errorf("%w: successor closed the link", allreduce.ErrDisconnected)
		}
		return err
	}
	a := l.resp.GetAbort()
	if a == nil {
		return fmt.Errorf("%w: unexpected %T from successor", allreduce.ErrProtocol, l.resp.Frame)
	}
	allreduce.AbortFrame(a, f)
	return nil
}

// Close implements Link: it half-closes the stream, so that what was sent
// is delivered, and cancels it once the successor has ended it or the
// linger has passed.
func (l *clientLink) Close() error {
	l.closeOnce.Do(func() {
		// A Send blocked on flow control holds sendMu; then the successor
		// is not reading and there is nothing to wait for.
		if l.sendMu.TryLock() {
			l.halfClose = true
			err := l.stream.CloseSend()
			l.sendMu.Unlock()
			if err == nil {
				t := time.NewTimer(l.linger)
				select {
				case <-l.ended:
				case <-t.C:
				}
				t.Stop()
			}
		}
		l.cancel(nil)
		l.cc.Close()
	})
	return nil
}

// serverLink is a member's link from its predecessor: the server end of a
// Link stream, kept open by its handler until Close.
type serverLink struct {
	stream   grpc.ServerStream
	dec      frameDecoder
	sendMu   sync.Mutex
	released chan struct{}
	once     sync.Once
}

func newServerLink(stream grpc.ServerStream, job string) *serverLink {
	l := &serverLink{stream: stream, released: make(chan struct{})}
	l.dec.linkJob = job
	return l
}

// Send implements Link: only an abort goes back to the predecessor.
func (l *serverLink) Send(f *allreduce.Frame) error {
	if f.Kind != allreduce.KindAbort {
		return errNotData
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	select {
	case <-l.released:
		return errLinkClosed
	default:
	}
	return l.stream.SendMsg(&ringtrainv1.LinkResponse{Frame: &ringtrainv1.LinkResponse_Abort{Abort: allreduce.AbortMessage(f)}})
}

// Recv implements Link.
func (l *serverLink) Recv(f *allreduce.Frame, s allreduce.Sink) error {
	l.dec.f, l.dec.sink = f, s
	err := l.stream.RecvMsg(&l.dec)
	l.dec.f, l.dec.sink = nil, nil
	switch {
	case l.dec.err != nil:
		return l.dec.err
	case err == io.EOF:
		return fmt.Errorf("%w: predecessor closed the link", allreduce.ErrDisconnected)
	}
	return err
}

// Settle implements Link: a server link sends no data.
func (l *serverLink) Settle(<-chan struct{}) bool { return true }

// Close implements Link: the handler returns, which ends the stream after
// anything already sent.
func (l *serverLink) Close() error {
	l.once.Do(func() { close(l.released) })
	return nil
}

// unsent tracks the payloads a link has handed to gRPC without a copy, as
// a mem.BufferPool: gRPC puts each back once it has written it to the
// socket, or has dropped it with its stream.
type unsent struct {
	mu      sync.Mutex
	n       int       // payloads not yet put back
	waiting bool      // a wait is under way
	idle    chan bool // wakes the wait when n drops to 0
	free    []*[]byte // handles for payloads, to reuse
}

// track returns b as a gRPC buffer that gRPC releases to u.
func (u *unsent) track(b []byte) mem.Buffer {
	u.mu.Lock()
	var p *[]byte
	if k := len(u.free); k > 0 {
		p = u.free[k-1]
		u.free = u.free[:k-1]
	} else {
		p = new([]byte)
	}
	u.n++
	u.mu.Unlock()
	*p = b
	buf := mem.NewBuffer(p, u)
	if _, unpooled := buf.(mem.SliceBuffer); unpooled {
		// gRPC never releases a buffer too small to pool. encode hands
		// over none, but its threshold is gRPC's to change.
		u.Put(p)
	}
	return buf
}

// Get implements mem.BufferPool; gRPC only puts what track gave it.
func (u *unsent) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// Put implements mem.BufferPool.
func (u *unsent) Put(p *[]byte) {
	*p = nil // the caller's memory
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.free) < 64 {
		u.free = append(u.free, p)
	}
	u.n--
	if u.n == 0 && u.waiting {
		u.waiting = false
		select {
		case u.idle <- true:
		default:
		}
	}
}

// wait waits until every tracked payload is put back, or stop is closed,
// and reports whether the former.
func (u *unsent) wait(stop <-chan struct{}) bool {
	u.mu.Lock()
	if u.n == 0 {
		u.mu.Unlock()
		return true
	}
	if u.idle == nil {
		u.idle = make(chan bool, 1)
	}
	select {
	case <-u.idle: // from a wait that stop ended
	default:
	}
	u.waiting = true
	u.mu.Unlock()
	select {
	case <-u.idle:
		return true
	case <-stop:
		u.mu.Lock()
		u.waiting = false
		u.mu.Unlock()
		return false
	}
}

// slotPool recycles the buffers chunks are encoded into. gRPC calls Put
// when it has copied a buffer to the socket, so a link needs only as many
// as it has messages in flight.
type slotPool struct {
	mu   sync.Mutex
	free []*[]byte
}

// Get implements mem.BufferPool.
func (p *slotPool) Get(n int) *[]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
	}
	// Round up: chunks of one ring differ by a few bytes, and a slot that
	// fits one should fit all.
	b := make([]byte, n, (n+4095)&^4095)
	return &b
}

// Put implements mem.BufferPool.
func (p *slotPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < 8 {
		p.free = append(p.free, b)
	}
}

// frames is the buffer pool of ring nodes' connections and servers, into
// which gRPC reads HTTP/2 DATA frames. gRPC's default pool clears every
// buffer it hands out (3% of a ring's CPU time) and, being a sync.Pool,
// loses its buffers at every garbage collection. A buffer is always
// overwritten up to the length asked for, so clearing it protects nothing.
var frames = &framePool{}

// frameSize is the largest DATA frame gRPC-Go reads (and writes): its
// buffers are pooled; buffers for anything larger are not.
const frameSize = 16 << 10

// framePool keeps up to maxFree buffers of frameSize bytes, 16 MiB: as
// many as two connection windows (connWindow) hold, the most a ring member
// receives on at once, with room for a second member in the process.
type framePool struct {
	mu   sync.Mutex
	free []*[]byte
}

const maxFree = 2 * connWindow / frameSize

// Get implements mem.BufferPool.
func (p *framePool) Get(n int) *[]byte {
	if n > frameSize {
		b := make([]byte, n)
		return &b
	}
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		p.mu.Unlock()
		*b = (*b)[:n]
		return b
	}
	p.mu.Unlock()
	b := make([]byte, n, frameSize)
	return &b
}

// Put implements mem.BufferPool.
func (p *framePool) Put(b *[]byte) {
	if cap(*b) != frameSize {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFree {
		p.free = append(p.free, b)
	}
}
