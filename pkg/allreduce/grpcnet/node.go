package grpcnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Flow-control windows and socket buffers for ring links: a window holds
// several chunks, so that a member never waits for a window update between
// two chunks, and writes and reads batch whole chunks. The benchmarks in
// bench_test.go chose these values; docs/benchmarks.md has them.
const (
	streamWindow = 4 << 20
	connWindow   = 8 << 20
	writeBuffer  = 256 << 10
	readBuffer   = 64 << 10
)

// ServerOptions returns the options a gRPC server that carries ring links
// should be created with: without them links work, but slowly, on gRPC's
// 64 KiB default windows.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.WriteBufferSize(writeBuffer),
		grpc.ReadBufferSize(readBuffer),
		experimental.BufferPool(frames),
	}
}

// Node is a process's presence in rings that run over gRPC: the Transport
// through which it forms them, and the PeerService through which its
// neighbours reach it. A worker creates one, registers it on its gRPC
// server, and forms one Ring per membership generation through it.
type Node struct {
	log         *slog.Logger
	dialOpts    []grpc.DialOption
	formTimeout time.Duration

	done chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	changed chan struct{} // closed and replaced when an inbox opens
	inboxes map[inboxKey]*inbox
	latest  map[string]uint64 // job → newest generation formed here
	links   map[*serverLink]struct{}
}

// inbox is where a forming ring waits for the link from its predecessor.
type inbox struct {
	size    int
	claimed bool
	dead    bool
	link    chan *serverLink // capacity 1
}

type inboxKey struct {
	job  string
	gen  uint64
	rank int
}

// A NodeOption configures a Node.
type NodeOption func(*Node)

// WithDialOptions adds options, such as transport credentials, to those the
// node dials its successors with (insecure by default).
func WithDialOptions(opts ...grpc.DialOption) NodeOption {
	return func(n *Node) { n.dialOpts = append(n.dialOpts, opts...) }
}

// WithNodeLogger sets the node's logger (default slog.Default()).
func WithNodeLogger(l *slog.Logger) NodeOption { return func(n *Node) { n.log = l } }

// WithFormTimeout bounds how long a predecessor's link waits for this node
// to form the same ring (default 30s).
func WithFormTimeout(d time.Duration) NodeOption { return func(n *Node) { n.formTimeout = d } }

// NewNode returns a node that serves no one until registered on a server.
func NewNode(opts ...NodeOption) *Node {
	n := &Node{
		log: slog.Default(),
		dialOpts: []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(streamWindow),
			grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithWriteBufferSize(writeBuffer),
			grpc.WithReadBufferSize(readBuffer),
			experimental.WithBufferPool(frames),
		},
		formTimeout: 30 * time.Second,
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
		inboxes:     map[inboxKey]*inbox{},
		latest:      map[string]uint64{},
		links:       map[*serverLink]struct{}{},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Register registers the node's PeerService on s, which should have been
// created with ServerOptions.
func (n *Node) Register(s grpc.ServiceRegistrar) {
	ringtrainv1.RegisterPeerServiceServer(s, peerServer{n: n})
}

// Close refuses new links and closes the links of every ring formed
// through the node, so that their server handlers return and the server can
// stop gracefully. Rings should be closed first.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
	for l := range n.links {
		l.Close()
	}
	return nil
}

// changedLocked wakes the handlers waiting for an inbox.
func (n *Node) changedLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Connect implements Transport: it opens the link to the successor and
// waits for the predecessor's.
func (n *Node) Connect(ctx context.Context, m allreduce.Membership) (prev, next allreduce.Link, err error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	key := inboxKey{m.Job, m.Generation, m.Rank}
	ib, err := n.openInbox(key, m.Size())
	if err != nil {
		return nil, nil, err
	}
	defer n.closeInbox(key)
	cl, err := n.dial(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	select {
	case sl := <-ib.link:
		return sl, cl, nil
	case <-ctx.Done():
		cl.Close()
		return nil, nil, fmt.Errorf("allreduce: waiting for rank %d (%s) to connect: %w", m.Prev(), m.Addrs[m.Prev()], ctx.Err())
	case <-n.done:
		cl.Close()
		return nil, nil, errNodeClosed
	}
}

var errNodeClosed = errors.New("allreduce: node closed")

func (n *Node) openInbox(key inboxKey, size int) (*inbox, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return nil, errNodeClosed
	case n.latest[key.job] > key.gen:
		return nil, fmt.Errorf("%w: this node has formed %s/%d, not %d", allreduce.ErrGeneration, key.job, n.latest[key.job], key.gen)
	case n.inboxes[key] != nil:
		return nil, fmt.Errorf("allreduce: rank %d of %s/%d is already forming", key.rank, key.job, key.gen)
	}
	n.latest[key.job] = key.gen
	ib := &inbox{size: size, link: make(chan *serverLink, 1)}
	n.inboxes[key] = ib
	n.changedLocked()
	return ib, nil
}

// closeInbox removes the inbox; a link delivered that nobody took is closed.
func (n *Node) closeInbox(key inboxKey) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ib := n.inboxes[key]
	delete(n.inboxes, key)
	ib.dead = true
	select {
	case l := <-ib.link:
		l.Close()
	default:
	}
}

// dial opens the link to m's successor and waits for it to accept.
func (n *Node) dial(ctx context.Context, m allreduce.Membership) (*clientLink, error) {
	to := m.Next()
	addr := m.Addrs[to]
	cc, err := grpc.NewClient(addr, n.dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("allreduce: dial rank %d (%s): %w", to, addr, err)
	}
	// The stream lives as long as the ring; ctx bounds only the handshake.
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	fail := func(err error) (*clientLink, error) {
		cancel()
		cc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("allreduce: link to rank %d (%s): %w", to, addr, err)
	}
	stream, err := ringtrainv1.NewPeerServiceClient(cc).Link(sctx,
		grpc.CallContentSubtype(codecName), grpc.WaitForReady(true))
	if err != nil {
		return fail(err)
	}
	hello := &ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Hello{Hello: &ringtrainv1.LinkHello{
		Job: m.Job, Generation: m.Generation, FromRank: uint32(m.Rank), ToRank: uint32(to), Size: uint32(m.Size()),
	}}}
	if err := stream.SendMsg(hello); err != nil && err != io.EOF {
		return fail(err)
	}
	// Receiving the answer also commits the stream: until then gRPC keeps
	// a reference to every message sent, for retries, and the data a link
	// hands it without a copy (clientLink.encode) must be released as soon
	// as it is written, or Settle waits for nothing.
	var resp ringtrainv1.LinkResponse
	if err := stream.RecvMsg(&resp); err != nil {
		if status.Code(err) == codes.FailedPrecondition {
			err = fmt.Errorf("%w: %s", allreduce.ErrGeneration, status.Convert(err).Message())
		}
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	if resp.GetAccepted() == nil {
		return fail(fmt.Errorf("%w: expected LinkAccepted, got %T", allreduce.ErrProtocol, resp.Frame))
	}
	return &clientLink{
		cc:     cc,
		stream: stream,
		cancel: cancel,
		pool:   &slotPool{},
		linger: 250 * time.Millisecond,
		ended:  make(chan struct{}),
	}, nil
}

// peerServer is the PeerService of a Node.
type peerServer struct {
	ringtrainv1.UnimplementedPeerServiceServer
	n *Node
}

// Link serves the link from a predecessor: it waits until this node forms
// the ring the hello names, hands the stream to it, and keeps the stream
// open until the ring closes its end.
func (p peerServer) Link(stream ringtrainv1.PeerService_LinkServer) error {
	var req ringtrainv1.LinkRequest
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	h := req.GetHello()
	if h == nil {
		return status.Errorf(codes.InvalidArgument, "allreduce: first message must be a LinkHello, got %T", req.Frame)
	}
	ib, err := p.n.claim(stream.Context(), h)
	if err != nil {
		return err
	}
	accepted := &ringtrainv1.LinkResponse{Frame: &ringtrainv1.LinkResponse_Accepted{Accepted: &ringtrainv1.LinkAccepted{}}}
	if err := stream.SendMsg(accepted); err != nil {
		return err
	}
	l := newServerLink(stream, h.Job)
	if !p.n.deliver(ib, l) {
		return status.Error(codes.Unavailable, "allreduce: ring stopped forming")
	}
	defer p.n.forget(l)
	select {
	case <-l.released:
	case <-stream.Context().Done():
	}
	return nil
}

// claim waits for this node to open the inbox a hello is addressed to.
func (n *Node) claim(ctx context.Context, h *ringtrainv1.LinkHello) (*inbox, error) {
	key := inboxKey{h.Job, h.Generation, int(h.ToRank)}
	timeout := time.NewTimer(n.formTimeout)
	defer timeout.Stop()
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, status.Error(codes.Unavailable, errNodeClosed.Error())
		}
		if g := n.latest[h.Job]; g > h.Generation {
			n.mu.Unlock()
			return nil, status.Errorf(codes.FailedPrecondition, "rank %d has formed %s/%d, not %d", h.ToRank, h.Job, g, h.Generation)
		}
		if ib := n.inboxes[key]; ib != nil {
			defer n.mu.Unlock()
			switch {
			case ib.size != int(h.Size) || (h.FromRank+1)%h.Size != h.ToRank:
				return nil, status.Errorf(codes.InvalidArgument, "allreduce: link %d→%d of %d into a ring of %d", h.FromRank, h.ToRank, h.Size, ib.size)
			case ib.claimed:
				return nil, status.Errorf(codes.AlreadyExists, "allreduce: rank %d of %s/%d already has a predecessor", h.ToRank, h.Job, h.Generation)
			}
			ib.claimed = true
			return ib, nil
		}
		changed := n.changed
		n.mu.Unlock()
		select {
		case <-changed:
		case <-n.done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-timeout.C:
			return nil, status.Errorf(codes.DeadlineExceeded, "allreduce: %s/%d not formed here within %v", h.Job, h.Generation, n.formTimeout)
		}
	}
}

// deliver hands l to the forming ring, unless it has stopped waiting.
func (n *Node) deliver(ib *inbox, l *serverLink) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ib.dead || n.closed {
		return false
	}
	n.links[l] = struct{}{}
	ib.link <- l
	return true
}

func (n *Node) forget(l *serverLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, l)
}
