package coordconn

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// server is a gRPC server with only the health service, in a given state.
func server(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", st)
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String(), hs
}

// TestDialFollowsTheServingOne: with two addresses, every call goes to the
// one that reports SERVING, and moves when the other takes over.
func TestDialFollowsTheServingOne(t *testing.T) {
	standby, hsA := server(t, healthpb.HealthCheckResponse_NOT_SERVING)
	leader, hsB := server(t, healthpb.HealthCheckResponse_SERVING)
	conn, err := Dial(standby+", "+leader, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	for i := range 20 {
		if st := check(); st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("call %d reached a server that is %s", i, st)
		}
	}
	// The leader steps down and the standby takes over.
	hsB.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hsA.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	// Once both health updates are in, every call reaches the new leader.
	deadline := time.Now().Add(10 * time.Second)
	for inARow := 0; inARow < 20; {
		if check() == healthpb.HealthCheckResponse_SERVING {
			inARow++
		} else {
			inARow = 0
		}
		if time.Now().After(deadline) {
			t.Fatal("calls did not settle on the server that took over")
		}
	}
}

func TestDialNeedsAnAddress(t *testing.T) {
	for _, addrs := range []string{"", " , "} {
		if _, err := Dial(addrs); !errors.Is(err, ErrNoAddress) {
			t.Errorf("Dial(%q): got %v, want ErrNoAddress", addrs, err)
		}
	}
}
