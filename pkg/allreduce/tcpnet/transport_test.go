package tcpnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/grpcnet"
	"github.com/ringtrain/ringtrain/pkg/allreduce/internal/forming"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// The ring over this transport is tested in pkg/allreduce (its tests run
// over every transport); these tests are of what only this package does.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// serve starts a transport with its rendezvous on a gRPC server; both stop
// when the test ends.
func serve(t *testing.T, register func(grpc.ServiceRegistrar) *Transport) (tr *Transport, addr string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	tr = register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		if tr != nil {
			tr.Close()
		}
		s.Stop()
		<-done
	})
	return tr, lis.Addr().String()
}

func newTCP(t *testing.T) (*Transport, string) {
	return serve(t, func(s grpc.ServiceRegistrar) *Transport {
		data, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr := New(data, "", WithLogger(quiet), WithFormTimeout(5*time.Second))
		tr.Register(s)
		return tr
	})
}

// askOffer asks tr, at its gRPC address addr, for the edge 0 → 1 of ring
// (job, 1) of two, as member 0 would.
func askOffer(t *testing.T, addr string) *ringtrainv1.TCPOffer {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := ringtrainv1.NewPeerServiceClient(cc).OpenTCP(ctx, &ringtrainv1.LinkHello{Job: "job", Generation: 1, FromRank: 0, ToRank: 1, Size: 2})
	if err != nil {
		t.Fatalf("OpenTCP: %v", err)
	}
	return o
}

// knock connects to addr, writes b and reports whether the other side
// acknowledged before closing.
func knock(t *testing.T, addr string, b []byte) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		return false
	}
	var ack [1]byte
	_, err = io.ReadFull(c, ack[:])
	return err == nil && ack[0] == ackByte
}

// TestHandshakeRefusals: a data connection is handed to a ring only with
// the secret of an edge it was offered, once; everything else is closed
// unacknowledged.
func TestHandshakeRefusals(t *testing.T) {
	tr, addr := newTCP(t)
	key := forming.Key{Job: "job", Gen: 1, Rank: 1}
	ib, err := tr.forming.Open(key, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.forming.Remove(key)
	o := askOffer(t, addr)
	good := hello{job: "job", generation: 1, from: 0, to: 1, secret: [secretSize]byte(o.Secret)}
	wrongSecret, wrongGen, wrongJob := good, good, good
	wrongSecret.secret[0] ^= 1
	wrongGen.generation = 2
	wrongJob.job = "other"
	frame := make([]byte, helloSize+3)
	frame[0] = byte(allreduce.KindData)
	badVersion := good.append(nil)
	badVersion[4] = helloVersion + 1
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"a frame", frame, false},
		{"another version", badVersion, false},
		{"wrong secret", wrongSecret.append(nil), false},
		{"wrong generation", wrongGen.append(nil), false},
		{"wrong job", wrongJob.append(nil), false},
		{"the secret", good.append(nil), true},
		{"the secret again", good.append(nil), false},
	} {
		if got := knock(t, o.Addr, tc.b); got != tc.want {
			t.Errorf("%s: acknowledged %v, want %v", tc.name, got, tc.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := tr.forming.Wait(ctx, ib)
	if err != nil {
		t.Fatalf("the good connection never reached the forming ring: %v", err)
	}
	l.Close()
}

// TestOfferRefusals: OpenTCP refuses what no member of the ring would ask.
func TestOfferRefusals(t *testing.T) {
	tr, addr := newTCP(t)
	key := forming.Key{Job: "job", Gen: 5, Rank: 1}
	if _, err := tr.forming.Open(key, 2, ""); err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	peer := ringtrainv1.NewPeerServiceClient(cc)
	for _, h := range []*ringtrainv1.LinkHello{
		{Job: "job", Generation: 4, FromRank: 0, ToRank: 1, Size: 2}, // stale
		{Job: "job", Generation: 5, FromRank: 0, ToRank: 1, Size: 3}, // other size
		{Job: "job", Generation: 5, FromRank: 1, ToRank: 1, Size: 2}, // not the predecessor
		{Job: "job", Generation: 5, FromRank: 0, ToRank: 1, Size: 0},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := peer.OpenTCP(ctx, h); err == nil {
			t.Errorf("%v: offered, want a refusal", h)
		}
		cancel()
	}
	tr.forming.Remove(key)
}

// TestSuccessorOverGRPC: a member whose successor serves the gRPC data
// plane fails to form the ring, saying why.
func TestSuccessorOverGRPC(t *testing.T) {
	tr, addr := newTCP(t)
	node := grpcnet.NewNode(grpcnet.WithNodeLogger(quiet))
	_, grpcAddr := serve(t, func(s grpc.ServiceRegistrar) *Transport {
		node.Register(s)
		return nil
	})
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := allreduce.Membership{Job: "mixed", Generation: 1, Rank: 0, Addrs: []string{addr, grpcAddr}}
	_, err := allreduce.NewRing(ctx, tr, m, allreduce.WithLogger(quiet))
	if err == nil || !strings.Contains(err.Error(), "ring transport") {
		t.Errorf("got %v, want an error that names the ring transport", err)
	}
}

// TestHeaderRoundTrip: every field of a frame's header survives the wire.
func TestHeaderRoundTrip(t *testing.T) {
	for _, f := range []allreduce.Frame{
		{Kind: allreduce.KindData, Precision: allreduce.Float64, Call: 1<<63 + 5, Step: 30, Offset: 1 << 40, Total: 1<<40 + 7, Weight: 0.1},
		{Kind: allreduce.KindHeartbeat, Call: 3},
		{Kind: allreduce.KindAbort, Call: 9},
	} {
		var h [headerSize]byte
		putHeader(&h, &f, 1234)
		var got allreduce.Frame
		n, err := parseHeader(&h, &got, "j", 7)
		f.Job, f.Generation = "j", 7
		if err != nil || n != 1234 || got.Kind != f.Kind || got.Precision != f.Precision || got.Call != f.Call ||
			got.Step != f.Step || got.Offset != f.Offset || got.Total != f.Total || got.Weight != f.Weight ||
			got.Job != f.Job || got.Generation != f.Generation {
			t.Errorf("%+v: got %+v, %d, %v", f, got, n, err)
		}
	}
	var h [headerSize]byte
	h[31] = 0x80 // offset ≥ 2⁶³
	if _, err := parseHeader(&h, new(allreduce.Frame), "j", 1); !errors.Is(err, allreduce.ErrProtocol) {
		t.Errorf("offset out of range: got %v, want ErrProtocol", err)
	}
}

// TestStoppedSuccessor: a successor whose process is stopped is named
// within about the peer timeout, not the form timeout: whether it stopped
// before its server could answer the connection (its kernel accepts it;
// nothing reads it), or after, while the rendezvous call waited for it to
// form the ring (nothing answers a call any more, a health probe neither).
func TestStoppedSuccessor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		successor func(t *testing.T) string // its address
	}{
		{"before its handshake", func(t *testing.T) string {
			hole, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hole.Close() }) // the backlog holds the connection
			return hole.Addr().String()
		}},
		{"after its handshake", func(t *testing.T) string {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan struct{})
			srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
				select { // every call hangs, as in a stopped process
				case <-stopped:
				case <-ctx.Done():
				}
				return nil, status.Error(codes.Unavailable, "stopped")
			}))
			healthpb.RegisterHealthServer(srv, health.NewServer())
			data, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			succ := New(data, "", WithLogger(quiet))
			succ.Register(srv)
			go srv.Serve(lis)
			t.Cleanup(func() { close(stopped); srv.Stop(); succ.Close() })
			return lis.Addr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.successor(t)
			data, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tr := New(data, "", WithLogger(quiet), WithPeerTimeout(300*time.Millisecond))
			defer tr.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, _, err = tr.Connect(ctx, allreduce.Membership{Job: "j", Generation: 1, Rank: 0, Addrs: []string{"127.0.0.1:1", addr}})
			took := time.Since(start)
			var pe *allreduce.PeerError
			if !errors.As(err, &pe) || pe.Rank != 1 {
				t.Fatalf("got %v, want a PeerError naming rank 1", err)
			}
			if took > 3*time.Second {
				t.Errorf("named the stopped successor after %v, want about the peer timeout (300ms)", took)
			}
		})
	}
}

// flaky is a listener whose first Accepts fail as in a process out of file
// descriptors.
type flaky struct {
	net.Listener
	fails atomic.Int32
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.Listener.Accept()
}

// TestAcceptSurvivesEMFILE: failed Accepts that pass do not end the data
// listener: a ring forms through it afterwards.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	a, addrA := newTCP(t)
	b, addrB := serve(t, func(s grpc.ServiceRegistrar) *Transport {
		data, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f := &flaky{Listener: data}
		f.fails.Store(3)
		tr := New(f, "", WithLogger(quiet))
		tr.Register(s)
		return tr
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	addrs := []string{addrA, addrB}
	var g errgroup.Group
	for i, tr := range []allreduce.Transport{a, b} {
		g.Go(func() error {
			r, err := allreduce.NewRing(ctx, tr, allreduce.Membership{Job: "j", Generation: 1, Rank: i, Addrs: addrs})
			if err != nil {
				return fmt.Errorf("rank %d: %w", i, err)
			}
			buf := []float32{float32(i)}
			defer r.Close()
			if err := r.AllReduce(ctx, buf); err != nil {
				return fmt.Errorf("rank %d: %w", i, err)
			}
			if buf[0] != 0.5 {
				return fmt.Errorf("rank %d: mean %v, want 0.5", i, buf[0])
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
