package tcpnet

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/internal/forming"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// ErrClosed is returned by Connect once the transport is closed.
var ErrClosed = forming.ErrClosed

// Transport is a process's presence in rings whose data travels over TCP:
// the allreduce.Transport through which it forms them, the data listener
// its predecessors connect to, and the PeerService.OpenTCP handler through
// which they ask where to connect. A worker creates one, registers it on
// its gRPC server, and forms one Ring per membership generation through it.
type Transport struct {
	lis         net.Listener
	advertise   string
	tls         *tls.Config
	log         *slog.Logger
	formTimeout time.Duration
	peerTimeout time.Duration
	linger      time.Duration

	forming *forming.Table[*link, offer]
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	links   map[*link]struct{}
	pending map[net.Conn]struct{} // connections still in their hello
}

// offer is what a forming ring's inbox keeps of the edge it offered its
// predecessor.
type offer struct {
	secret [secretSize]byte
	used   bool // a connection presented the secret
}

// An Option configures a Transport.
type Option func(*Transport)

// WithTLS runs every data connection over TLS with cfg, as a server for the
// connections the transport accepts and as a client for those it dials
// (with the host of the address dialled as ServerName unless cfg sets one),
// and the rendezvous calls it makes to successors; where the Membership
// names its members' IDs, a successor must present a certificate of its
// ID. The gRPC server that serves the transport's PeerService should use
// cfg too. Every member of a ring must use TLS, or none.
func WithTLS(cfg *tls.Config) Option { return func(t *Transport) { t.tls = cfg } }

// WithLogger sets the transport's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(t *Transport) { t.log = l } }

// WithFormTimeout bounds how long a predecessor waits for this member to
// form the same ring, and how long a new connection may take to say hello
// (default 30s).
func WithFormTimeout(d time.Duration) Option { return func(t *Transport) { t.formTimeout = d } }

// WithPeerTimeout bounds how long a successor may take to answer a
// connection at all, its gRPC handshake or its data connection's hello
// (default allreduce.DefaultTimeout): a live member answers at once, even
// while it is still loading before it forms the ring; one that does not is
// stopped or hung, and is blamed. Give it the ring's timeout.
func WithPeerTimeout(d time.Duration) Option { return func(t *Transport) { t.peerTimeout = d } }

// New returns a transport whose predecessors connect to lis, which it
// owns from now on, at advertise (lis's address when empty): the address
// that OpenTCP gives them. It accepts connections until Close.
func New(lis net.Listener, advertise string, opts ...Option) *Transport {
	if advertise == "" {
		advertise = lis.Addr().String()
	}
	t := &Transport{
		lis:         lis,
		advertise:   advertise,
		log:         slog.Default(),
		formTimeout: 30 * time.Second,
		peerTimeout: allreduce.DefaultTimeout,
		linger:      250 * time.Millisecond,
		links:       map[*link]struct{}{},
		pending:     map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o(t)
	}
	t.forming = forming.New[*link, offer](t.formTimeout)
	t.wg.Add(1)
	go t.accept()
	return t
}

// Addr returns the address predecessors are told to connect to.
func (t *Transport) Addr() string { return t.advertise }

// Register registers the transport's PeerService on s: OpenTCP, through
// which predecessors learn where to connect.
func (t *Transport) Register(s grpc.ServiceRegistrar) {
	ringtrainv1.RegisterPeerServiceServer(s, rendezvous{t: t})
}

// Close stops accepting, closes the links of every ring formed through the
// transport, and returns once its goroutines have ended. Rings should be
// closed first.
func (t *Transport) Close() error {
	t.forming.Close()
	t.mu.Lock()
	var links []*link
	if !t.closed {
		t.closed = true
		t.lis.Close()
		for c := range t.pending {
			c.Close()
		}
	}
	for l := range t.links {
		links = append(links, l)
	}
	t.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	t.wg.Wait()
	return nil
}

// Connect implements allreduce.Transport: it asks the successor, over
// gRPC, where to connect, connects, and waits for the predecessor to do
// the same.
func (t *Transport) Connect(ctx context.Context, m allreduce.Membership) (prev, next allreduce.Link, err error) {
	return forming.Connect(ctx, t.forming, m, t.dial)
}

// dial opens the link to m's successor: asks it over gRPC for an offer,
// connects to the address offered and says hello with its secret.
func (t *Transport) dial(ctx context.Context, m allreduce.Membership) (*link, error) {
	to := m.Next()
	addr := m.Addrs[to]
	fail := func(err error) (*link, error) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tcpnet: link to rank %d (%s): %w", to, addr, ctx.Err())
		}
		return nil, allreduce.LinkError(m, to, fmt.Errorf("tcpnet: link: %w", err))
	}
	// Over TLS, the successor must be the member m names, on both the
	// rendezvous call and the data connection.
	tlsCfg := secure.ExpectName(t.tls, m.ID(to))
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	// A member's gRPC server answers before it forms (it may be loading):
	// one that does not answer the handshake within peerTimeout is stopped.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: t.peerTimeout}))
	if err != nil {
		return fail(err)
	}
	defer cc.Close()
	h := hello{job: m.Job, generation: m.Generation, from: uint32(m.Rank), to: uint32(to)}
	// The successor answers once it has formed the same ring.
	octx, cancel := context.WithCancelCause(ctx)
	stopProbe := forming.StartProbe(octx, cc, t.peerTimeout, cancel)
	// Not WaitForReady: a member listens before it registers, so an
	// address that refuses connections is a dead member's, to blame now.
	offer, err := ringtrainv1.NewPeerServiceClient(cc).OpenTCP(octx, &ringtrainv1.LinkHello{
		Job: m.Job, Generation: m.Generation, FromRank: h.from, ToRank: h.to, Size: uint32(m.Size()),
	})
	stopProbe()
	cancel(nil)
	if cause := context.Cause(octx); err != nil && ctx.Err() == nil && errors.Is(cause, allreduce.ErrTimeout) {
		return fail(cause)
	}
	switch status.Code(err) {
	case codes.OK:
	case codes.FailedPrecondition:
		return fail(fmt.Errorf("%w: %s", allreduce.ErrGeneration, status.Convert(err).Message()))
	case codes.PermissionDenied:
		return nil, fmt.Errorf("tcpnet: rank %d (%s): %w: %s", to, addr, allreduce.ErrRefused, status.Convert(err).Message())
	case codes.Unimplemented:
		return fail(fmt.Errorf("it serves no TCP data plane: every member of a ring must use the same ring transport: %w", err))
	default:
		return fail(err)
	}
	if len(offer.Secret) != secretSize {
		return fail(fmt.Errorf("%w: offer with a %d-byte secret", allreduce.ErrProtocol, len(offer.Secret)))
	}
	h.secret = [secretSize]byte(offer.Secret)
	// Go sets TCP_NODELAY on every TCP connection. The socket buffers are
	// left to the kernel's autotuning, which grows them past a pipeline of
	// chunks: setting SO_SNDBUF or SO_RCVBUF would turn it off, capped at
	// net.core.[rw]mem_max (208 KiB on many hosts), less than one chunk.
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", offer.Addr)
	if err != nil {
		return fail(err)
	}
	// ctx bounds the handshake, and the successor, which has offered this
	// edge, must answer the hello within peerTimeout.
	_ = conn.SetDeadline(time.Now().Add(t.peerTimeout))
	raw := conn // helloTo may wrap it in TLS; the deadline reaches both
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	conn, err = t.helloTo(ctx, conn, tlsCfg, offer.Addr, &h)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return fail(fmt.Errorf("data connection to %s: %w", offer.Addr, err))
	}
	_ = conn.SetDeadline(time.Time{})
	return t.track(newLink(conn, m.Job, m.Generation, "successor", t.linger, t.forget)), nil
}

// helloTo says hello on a new connection to addr, over TLS if configured,
// and waits for the successor's acknowledgement.
func (t *Transport) helloTo(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string, h *hello) (net.Conn, error) {
	if cfg != nil {
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return conn, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	if _, err := conn.Write(h.append(make([]byte, 0, helloSize+len(h.job)))); err != nil {
		return conn, err
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return conn, fmt.Errorf("refused: %w", err)
	}
	if ack[0] != ackByte {
		return conn, fmt.Errorf("%w: acknowledged with %d", allreduce.ErrProtocol, ack[0])
	}
	return conn, nil
}

func (t *Transport) track(l *link) *link {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.links[l] = struct{}{}
	return l
}

func (t *Transport) forget(l *link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.links, l)
}

// rendezvous is the transport's PeerService: OpenTCP only.
type rendezvous struct {
	ringtrainv1.UnimplementedPeerServiceServer
	t *Transport
}

// OpenTCP waits until this member forms the ring the hello names and
// offers the predecessor a secret for its connection.
func (r rendezvous) OpenTCP(ctx context.Context, h *ringtrainv1.LinkHello) (*ringtrainv1.TCPOffer, error) {
	var secret [secretSize]byte
	_, err := r.t.forming.Claim(ctx, h.Job, h.Generation, h.FromRank, h.ToRank, h.Size, func(ib *forming.Inbox[*link, offer]) error {
		if _, err := rand.Read(ib.Extra.secret[:]); err != nil {
			return err
		}
		secret = ib.Extra.secret
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ringtrainv1.TCPOffer{Addr: r.t.advertise, Secret: secret[:]}, nil
}

// accept hands every connection to a handshake of its own until Close.
func (t *Transport) accept() {
	defer t.wg.Done()
	var pause time.Duration
	for {
		conn, err := t.lis.Accept()
		if err != nil {
			select {
			case <-t.forming.Done():
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				t.log.Error("tcpnet: data listener closed; no predecessor can connect", "addr", t.lis.Addr(), "error", err)
				return
			}
			// Anything else may pass (a process out of file descriptors
			// gets EMFILE until some close): wait and accept again, as
			// net/http's Server does, 5 ms doubling up to a second.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t.log.Warn("tcpnet: accepting a data connection failed; trying again", "addr", t.lis.Addr(), "error", err, "pause", pause)
			wait := time.NewTimer(pause)
			select {
			case <-t.forming.Done():
				wait.Stop()
				return
			case <-wait.C:
			}
			continue
		}
		pause = 0
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			conn.Close()
			return
		}
		t.pending[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			if err := t.handshake(conn); err != nil {
				t.log.Debug("tcpnet: refused a data connection", "remote", conn.RemoteAddr(), "error", err)
			}
		}()
	}
}

// handshake reads a new connection's hello and, if it presents the secret
// of a ring forming here, hands the connection to that ring. Anything else
// is closed before a frame is read.
func (t *Transport) handshake(raw net.Conn) (err error) {
	conn := raw
	defer func() {
		t.mu.Lock()
		delete(t.pending, raw)
		t.mu.Unlock()
		if err != nil {
			conn.Close()
		}
	}()
	_ = conn.SetDeadline(time.Now().Add(t.formTimeout))
	if t.tls != nil {
		tc := tls.Server(conn, t.tls)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	var fixed [helloSize]byte
	if _, err := io.ReadFull(conn, fixed[:]); err != nil {
		return err
	}
	var h hello
	n, err := h.parseFixed(&fixed)
	if err != nil {
		return err
	}
	job := make([]byte, n)
	if _, err := io.ReadFull(conn, job); err != nil {
		return err
	}
	h.job = string(job)
	ib, err := t.admit(&h)
	if err != nil {
		return err
	}
	if _, err := conn.Write([]byte{ackByte}); err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Time{})
	l := t.track(newLink(conn, h.job, h.generation, "predecessor", t.linger, t.forget))
	if !t.forming.Deliver(ib, l) {
		l.Close()
	}
	return nil
}

// admit returns the inbox whose secret h presents, once.
func (t *Transport) admit(h *hello) (*forming.Inbox[*link, offer], error) {
	return t.forming.Admit(forming.Key{Job: h.job, Gen: h.generation, Rank: int(h.to)}, func(ib *forming.Inbox[*link, offer]) error {
		switch {
		case subtle.ConstantTimeCompare(ib.Extra.secret[:], h.secret[:]) != 1:
			return fmt.Errorf("wrong secret for %s/%d rank %d", h.job, h.generation, h.to)
		case ib.Extra.used:
			return fmt.Errorf("%s/%d rank %d is already connected", h.job, h.generation, h.to)
		case (h.from+1)%uint32(ib.Size) != h.to:
			return fmt.Errorf("link %d→%d into a ring of %d", h.from, h.to, ib.Size)
		}
		ib.Extra.used = true
		return nil
	})
}
