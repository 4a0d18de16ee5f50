package grpcnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/internal/forming"
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
	tls         *tls.Config
	peerTimeout time.Duration

	forming *forming.Table[*serverLink, struct{}]

	mu    sync.Mutex
	links map[*serverLink]struct{}
}

// A NodeOption configures a Node.
type NodeOption func(*Node)

// WithTLS dials successors over TLS with cfg; where the Membership names
// its members' IDs, a successor must present a certificate of its ID. The
// gRPC server the node is registered on should require the same.
func WithTLS(cfg *tls.Config) NodeOption { return func(n *Node) { n.tls = cfg } }

// WithPeerTimeout bounds how long a successor may take to answer at all,
// its gRPC handshake or a health probe while the link waits for it to form
// the ring (default allreduce.DefaultTimeout): a live member answers at
// once, even while it is still loading; one that does not is stopped or
// hung, and is blamed. Give it the ring's timeout.
func WithPeerTimeout(d time.Duration) NodeOption { return func(n *Node) { n.peerTimeout = d } }

// WithNodeLogger sets the node's logger (default slog.Default()).
func WithNodeLogger(l *slog.Logger) NodeOption { return func(n *Node) { n.log = l } }

// NewNode returns a node that serves no one until registered on a server.
func NewNode(opts ...NodeOption) *Node {
	n := &Node{
		log:         slog.Default(),
		peerTimeout: allreduce.DefaultTimeout,
		dialOpts: []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(streamWindow),
			grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithWriteBufferSize(writeBuffer),
			grpc.WithReadBufferSize(readBuffer),
			experimental.WithBufferPool(frames),
		},
		links: map[*serverLink]struct{}{},
	}
	for _, o := range opts {
		o(n)
	}
	// A member's gRPC server answers before it forms (it may be loading):
	// one that does not answer the handshake within peerTimeout is stopped.
	n.dialOpts = append(n.dialOpts, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.DefaultConfig, MinConnectTimeout: n.peerTimeout}))
	// A predecessor's link waits this long for this node to form the
	// same ring.
	n.forming = forming.New[*serverLink, struct{}](30 * time.Second)
	return n
}

// Register registers the node's PeerService on s, which should have been
// created with ServerOptions.
func (n *Node) Register(s grpc.ServiceRegistrar) {
	ringtrainv1.RegisterPeerServiceServer(s, peerServer{n: n})
}

// Close refuses new links and closes the links predecessors opened to
// rings formed through the node, so that their server handlers return and
// the server can stop gracefully. The links to successors are their rings'
// to close: close the rings first.
func (n *Node) Close() error {
	n.forming.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	for l := range n.links {
		l.Close()
	}
	return nil
}

// Connect implements Transport: it opens the link to the successor and
// waits for the predecessor's.
func (n *Node) Connect(ctx context.Context, m allreduce.Membership) (prev, next allreduce.Link, err error) {
	return forming.Connect(ctx, n.forming, m, n.dial)
}

// dial opens the link to m's successor and waits for it to accept.
func (n *Node) dial(ctx context.Context, m allreduce.Membership) (*clientLink, error) {
	to := m.Next()
	addr := m.Addrs[to]
	opts := n.dialOpts
	if n.tls != nil {
		opts = append(opts[:len(opts):len(opts)], grpc.WithTransportCredentials(credentials.NewTLS(secure.ExpectName(n.tls, m.ID(to)))))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("allreduce: dial rank %d (%s): %w", to, addr, err)
	}
	// The stream lives as long as the ring; ctx bounds only the handshake,
	// and so does the probe: the successor accepts once it has formed the
	// same ring.
	sctx, cancel := context.WithCancelCause(context.Background())
	stop := context.AfterFunc(ctx, func() { cancel(ctx.Err()) })
	defer stop() // every way out but success, which stops it below
	stopProbe := forming.StartProbe(ctx, cc, n.peerTimeout, cancel)
	defer stopProbe()
	fail := func(err error) (*clientLink, error) {
		stopProbe()
		cancel(nil)
		cc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("allreduce: link to rank %d (%s): %w", to, addr, ctx.Err())
		}
		if cause := context.Cause(sctx); errors.Is(cause, allreduce.ErrTimeout) {
			err = cause
		}
		return nil, allreduce.LinkError(m, to, fmt.Errorf("grpcnet: link: %w", err))
	}
	// Not WaitForReady: a member listens before it registers, so an
	// address that refuses connections is a dead member's, to blame now.
	stream, err := ringtrainv1.NewPeerServiceClient(cc).Link(sctx, grpc.CallContentSubtype(codecName))
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
		switch status.Code(err) {
		case codes.FailedPrecondition:
			err = fmt.Errorf("%w: %s", allreduce.ErrGeneration, status.Convert(err).Message())
		case codes.PermissionDenied:
			stopProbe()
			cancel(nil)
			cc.Close()
			return nil, fmt.Errorf("grpcnet: rank %d (%s): %w: %s", to, addr, allreduce.ErrRefused, status.Convert(err).Message())
		}
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	if stopProbe(); sctx.Err() != nil {
		return fail(context.Cause(sctx))
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
	ib, err := p.n.forming.Claim(stream.Context(), h.Job, h.Generation, h.FromRank, h.ToRank, h.Size,
		func(*forming.Inbox[*serverLink, struct{}]) error { return nil })
	if err != nil {
		return err
	}
	accepted := &ringtrainv1.LinkResponse{Frame: &ringtrainv1.LinkResponse_Accepted{Accepted: &ringtrainv1.LinkAccepted{}}}
	if err := stream.SendMsg(accepted); err != nil {
		return err
	}
	l := newServerLink(stream, h.Job)
	p.n.track(l)
	defer p.n.forget(l)
	if !p.n.forming.Deliver(ib, l) {
		return status.Error(codes.Unavailable, "allreduce: ring stopped forming")
	}
	select {
	case <-l.released:
	case <-stream.Context().Done():
	}
	return nil
}

func (n *Node) track(l *serverLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[l] = struct{}{}
}

func (n *Node) forget(l *serverLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, l)
}
