package grpcnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// TestStoppedSuccessor: a successor whose process is stopped is named
// within about the peer timeout, not the form timeout: whether it stopped
// before its server could answer the connection (its kernel accepts it;
// nothing reads it), or after, while the link's hello waited for it to
// form the ring (nothing answers a call any more, a health probe neither).
func TestStoppedSuccessor(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		probed    bool                      // named by the health probe: ErrTimeout
		successor func(t *testing.T) string // its address
	}{
		{"before its handshake", false, func(t *testing.T) string {
			hole, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hole.Close() }) // the backlog holds the connection
			return hole.Addr().String()
		}},
		{"after its handshake", true, func(t *testing.T) string {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan struct{})
			hang := func(ctx context.Context) error {
				select { // every call hangs, as in a stopped process
				case <-stopped:
				case <-ctx.Done():
				}
				return status.Error(codes.Unavailable, "stopped")
			}
			srv := grpc.NewServer(append(ServerOptions(),
				grpc.UnaryInterceptor(func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
					return nil, hang(ctx)
				}),
				grpc.StreamInterceptor(func(_ any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, _ grpc.StreamHandler) error {
					return hang(ss.Context())
				}))...)
			healthpb.RegisterHealthServer(srv, health.NewServer())
			succ := NewNode(WithNodeLogger(quiet))
			succ.Register(srv)
			go srv.Serve(lis)
			t.Cleanup(func() { close(stopped); srv.Stop(); succ.Close() })
			return lis.Addr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.successor(t)
			node := NewNode(WithNodeLogger(quiet), WithPeerTimeout(300*time.Millisecond))
			defer node.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, _, err := node.Connect(ctx, allreduce.Membership{Job: "j", Generation: 1, Rank: 0, Addrs: []string{"127.0.0.1:1", addr}})
			took := time.Since(start)
			var pe *allreduce.PeerError
			if !errors.As(err, &pe) || pe.Rank != 1 {
				t.Fatalf("got %v, want a PeerError naming rank 1", err)
			}
			if tc.probed && !errors.Is(err, allreduce.ErrTimeout) {
				t.Errorf("got %v, want it to wrap ErrTimeout (the unanswered probe)", err)
			}
			if took > 3*time.Second {
				t.Errorf("named the stopped successor after %v, want about the peer timeout (300ms)", took)
			}
		})
	}
}
