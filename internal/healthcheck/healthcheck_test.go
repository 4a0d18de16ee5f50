package healthcheck

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(l)
	defer s.Stop()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Check(ctx, l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Errorf("serving: %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := Check(ctx, l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("not serving: got %v", err)
	}
	short, done := context.WithTimeout(ctx, time.Second)
	defer done()
	if err := Check(short, deadAddr, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil || !strings.Contains(err.Error(), deadAddr) {
		t.Errorf("nothing listening: got %v, want an error naming %s", err, deadAddr)
	}
	cmd := Command("worker", l.Addr().String())
	cmd.SetArgs(nil)
	if err := cmd.ExecuteContext(ctx); err == nil {
		t.Error("command against a NOT_SERVING server: want error")
	}
}
