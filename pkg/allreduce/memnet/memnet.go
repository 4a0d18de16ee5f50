package memnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// Network is an in-memory Transport for testing the ring without sockets,
// in the manner of etcd's rafttest network: every member of every ring on
// it shares it, and a test injects delay, loss, crashes and stalls.
// Randomness comes from the seed, so a failing test can be replayed (up to
// goroutine scheduling).
type Network struct {
	mu       sync.Mutex
	rand     *rand.Rand
	minDelay time.Duration
	maxDelay time.Duration
	drop     float64
	down     map[string]bool
	paused   map[string]chan struct{} // closed on Resume
	latest   map[string]map[string]uint64
	edges    map[edgeKey]*edge
}

// window is how many frames a pipe holds before Send blocks: the in-memory
// stand-in for gRPC flow control, so that a stalled receiver stalls its
// sender too.
const window = 4

// NewNetwork returns an empty, reliable, instantaneous network.
func NewNetwork(seed uint64) *Network {
	return &Network{
		rand:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		down:   map[string]bool{},
		paused: map[string]chan struct{}{},
		latest: map[string]map[string]uint64{},
		edges:  map[edgeKey]*edge{},
	}
}

// SetDelay delays every frame sent from now on by a uniformly random time
// in [lo, hi]. Frames on one link still arrive in order.
func (n *Network) SetDelay(lo, hi time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.minDelay, n.maxDelay = lo, max(lo, hi)
}

// SetDrop loses each frame sent from now on with probability p, silently,
// as a link that drops a message without noticing would.
func (n *Network) SetDrop(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop = p
}

// Disconnect crashes the member at addr: its links fail at once at both
// ends, frames in flight are lost, and it cannot connect again.
func (n *Network) Disconnect(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[addr] = true
	for _, e := range n.edges {
		if e.addrs[0] == addr || e.addrs[1] == addr {
			e.cut()
		}
	}
}

// Pause freezes the member at addr as SIGSTOP would: its Send and Recv
// calls block until Resume, frames sent to it pile up, and its links stay
// open. Frames it sent before the pause are still delivered.
func (n *Network) Pause(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused[addr] == nil {
		n.paused[addr] = make(chan struct{})
	}
}

// Resume undoes Pause.
func (n *Network) Resume(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.paused[addr]; c != nil {
		close(c)
		delete(n.paused, addr)
	}
}

// gate returns a channel that is closed once addr is not paused, or nil.
func (n *Network) gate(addr string) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused[addr]
}

// lose decides whether to lose a frame and how long to delay it.
func (n *Network) lose() (bool, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.drop > 0 && n.rand.Float64() < n.drop {
		return true, 0
	}
	d := n.minDelay
	if n.maxDelay > n.minDelay {
		d += time.Duration(n.rand.Int64N(int64(n.maxDelay - n.minDelay + 1)))
	}
	return false, d
}

// Connect implements Transport.
func (n *Network) Connect(ctx context.Context, m allreduce.Membership) (prev, next allreduce.Link, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	out, in, err := n.join(m)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range []*edge{out, in} {
		select {
		case <-e.ready:
		case <-e.broken:
			return nil, nil, fmt.Errorf("%w: %s to %s broke while forming", allreduce.ErrDisconnected, e.addrs[0], e.addrs[1])
		case <-ctx.Done():
			out.cut()
			in.cut()
			return nil, nil, ctx.Err()
		}
	}
	return &memLink{e: in, side: 1}, &memLink{e: out, side: 0}, nil
}

// join registers m's ends of its two edges.
func (n *Network) join(m allreduce.Membership) (out, in *edge, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	me, succ := m.Addrs[m.Rank], m.Addrs[m.Next()]
	for _, a := range []string{me, succ, m.Addrs[m.Prev()]} {
		if n.down[a] {
			return nil, nil, fmt.Errorf("%w: %s is down", allreduce.ErrDisconnected, a)
		}
	}
	for _, a := range []string{me, succ} {
		if g := n.latest[a][m.Job]; g > m.Generation {
			return nil, nil, fmt.Errorf("%w: %s has formed generation %d, not %d", allreduce.ErrGeneration, a, g, m.Generation)
		}
	}
	if n.latest[me] == nil {
		n.latest[me] = map[string]uint64{}
	}
	n.latest[me][m.Job] = m.Generation
	out = n.edge(edgeKey{m.Job, m.Generation, m.Rank}, me, succ)
	in = n.edge(edgeKey{m.Job, m.Generation, m.Prev()}, m.Addrs[m.Prev()], me)
	if out.joined[0] || in.joined[1] {
		return nil, nil, fmt.Errorf("allreduce: rank %d of %s/%d has already joined", m.Rank, m.Job, m.Generation)
	}
	out.join(0)
	in.join(1)
	return out, in, nil
}

type edgeKey struct {
	job  string
	gen  uint64
	from int // the edge goes from rank from to rank from+1
}

func (n *Network) edge(k edgeKey, from, to string) *edge {
	e := n.edges[k]
	if e == nil {
		e = &edge{net: n, key: k, addrs: [2]string{from, to}, ready: make(chan struct{}), broken: make(chan struct{})}
		e.pipes[0] = newPipe(e.broken)
		e.pipes[1] = newPipe(e.broken)
		n.edges[k] = e
	}
	return e
}

// edge joins two members: pipes[0] carries frames forward, pipes[1] back.
// It is guarded by its network's mutex, but for its channels.
type edge struct {
	net      *Network
	key      edgeKey
	addrs    [2]string
	joined   [2]bool
	closed   [2]bool
	ready    chan struct{} // closed when both ends have joined
	broken   chan struct{} // closed by cut
	cutOnce  sync.Once
	pipes    [2]*pipe
	shutOnce [2]sync.Once
}

func (e *edge) join(side int) {
	e.joined[side] = true
	if e.joined[0] && e.joined[1] {
		close(e.ready)
	}
}

func (e *edge) cut() { e.cutOnce.Do(func() { close(e.broken) }) }

// pipe is one direction of an edge.
type pipe struct {
	q      chan envelope
	broken chan struct{} // the edge's: frames are lost
	shut   chan struct{} // an end closed: frames queued are still delivered
	mu     sync.Mutex    // serialises senders, so that delays keep order
	last   time.Time
	free   chan allreduce.Values // payload buffers to reuse
}

type envelope struct {
	f  allreduce.Frame
	at time.Time // not delivered before
}

func newPipe(broken chan struct{}) *pipe {
	return &pipe{q: make(chan envelope, window), broken: broken, shut: make(chan struct{}), free: make(chan allreduce.Values, window+1)}
}

var (
	errCut        = fmt.Errorf("%w: in-memory link cut", allreduce.ErrDisconnected)
	errPipeClosed = errors.New("allreduce: in-memory link closed")
)

// memLink is one end of an edge: side 0 sends on pipes[0] and receives on
// pipes[1], side 1 the other way round.
type memLink struct {
	e     *edge
	side  int
	timer *time.Timer
}

func (l *memLink) addr() string { return l.e.addrs[l.side] }

// waitGate blocks while this end's member is paused.
func (l *memLink) waitGate(p *pipe) error {
	g := l.e.net.gate(l.addr())
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-p.broken:
		return errCut
	case <-p.shut:
		return errPipeClosed
	}
}

// Send implements Link.
func (l *memLink) Send(f *allreduce.Frame) error {
	p := l.e.pipes[l.side]
	if err := l.waitGate(p); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.broken:
		return errCut
	case <-p.shut:
		return errPipeClosed
	default:
	}
	lost, delay := l.e.net.lose()
	if lost {
		return nil
	}
	env := envelope{f: *f, at: time.Now().Add(delay)}
	if env.at.Before(p.last) {
		env.at = p.last
	}
	p.last = env.at
	env.f.Data = p.clone(f.Data)
	select {
	case p.q <- env:
		return nil
	case <-p.broken:
		return errCut
	case <-p.shut:
		return errPipeClosed
	}
}

func (p *pipe) clone(v allreduce.Values) allreduce.Values {
	if v.F32 == nil && v.F64 == nil {
		return allreduce.Values{}
	}
	var b allreduce.Values
	select {
	case b = <-p.free:
	default:
	}
	if v.F64 != nil {
		return allreduce.Values{F64: append(b.F64[:0], v.F64...)}
	}
	return allreduce.Values{F32: append(b.F32[:0], v.F32...)}
}

// Recv implements Link.
func (l *memLink) Recv(f *allreduce.Frame, s allreduce.Sink) error {
	p := l.e.pipes[1-l.side]
	if err := l.waitGate(p); err != nil {
		return err
	}
	var env envelope
	select {
	case env = <-p.q: // frames queued before a Close are still delivered
	default:
		select {
		case env = <-p.q:
		case <-p.broken:
			return errCut
		case <-p.shut:
			select {
			case env = <-p.q:
			default:
				return io.EOF
			}
		}
	}
	if err := l.sleepUntil(p, env.at); err != nil {
		return err
	}
	data := env.f.Data
	*f = env.f
	f.Data = allreduce.Values{}
	if f.Kind == allreduce.KindData {
		if s == nil {
			return fmt.Errorf("%w: data frame on a link that carries none", allreduce.ErrProtocol)
		}
		dst, op, err := s.Place(f, data.Len())
		if err != nil {
			return err
		}
		dst.Apply(data, op)
	}
	select {
	case p.free <- data:
	default:
	}
	return nil
}

func (l *memLink) sleepUntil(p *pipe, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	if l.timer == nil {
		l.timer = time.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	select {
	case <-l.timer.C:
		return nil
	case <-p.broken:
		l.timer.Stop()
		return errCut
	}
}

// Settle implements Link: Send copies the data.
func (l *memLink) Settle(<-chan struct{}) bool { return true }

// Close implements Link. The other end reads what is queued and then EOF;
// its sends fail. A paused member cannot close its links until resumed.
func (l *memLink) Close() error {
	e := l.e
	_ = l.waitGate(e.pipes[l.side])
	for i := range e.pipes {
		e.shutOnce[i].Do(func() { close(e.pipes[i].shut) })
	}
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	e.closed[l.side] = true
	if e.closed[0] && e.closed[1] && n.edges[e.key] == e {
		delete(n.edges, e.key)
	}
	return nil
}
