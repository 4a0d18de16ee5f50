package coordinator

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ringtrain/ringtrain/pkg/embedetcd"
)

// TestHealthFollowsEtcd: a leading coordinator reports NOT_SERVING while
// etcd is down, and SERVING again once it is back, without losing the
// leadership in between.
func TestHealthFollowsEtcd(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := func(url string) *embedetcd.Server {
		e, err := embedetcd.Start(ctx, embedetcd.Config{Dir: filepath.Join(dir, "etcd"), ClientURL: url, Fast: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	etcd := start("http://127.0.0.1:0")
	url := etcd.Endpoints()[0]
	cli, err := etcd.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- Serve(sctx, lis, Config{DataDir: t.TempDir(), Etcd: cli, Logger: slog.New(slog.DiscardHandler), LeaderTTL: 30 * time.Second})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	await := func(want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health is not %v after %v (%v, %v)", want, within, resp.GetStatus(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	await(healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	etcd.Close()
	await(healthpb.HealthCheckResponse_NOT_SERVING, 5*time.Second)
	etcd = start(url) // the same port and data
	defer etcd.Close()
	await(healthpb.HealthCheckResponse_SERVING, 10*time.Second)

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
}
