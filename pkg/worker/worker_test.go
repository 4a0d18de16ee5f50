package worker

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/pkg/allreduce/grpcnet"
	"github.com/ringtrain/ringtrain/pkg/etcdlog"
)

// syncBuffer is a log sink safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// healthyCoordinator serves only the health service, which is all a worker
// asks of its coordinator before it registers.
func healthyCoordinator(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func TestWrongAddressesAreReportedAndRetried(t *testing.T) {
	eps := etcdtest.Start(t)
	tests := []struct {
		name      string
		coord     string
		etcd      []string
		wantInLog string
	}{
		{"wrong coordinator", deadAddr(t), eps, "reach coordinator failed; retrying"},
		{"wrong etcd", healthyCoordinator(t), []string{deadAddr(t)}, "register in etcd at "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			cli, err := clientv3.New(clientv3.Config{Endpoints: tc.etcd, DialTimeout: time.Second, Logger: etcdlog.New(slog.New(slog.DiscardHandler))})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			conn, err := grpc.NewClient(tc.coord, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			node := grpcnet.NewNode()
			defer node.Close()
			w, err := New(Config{ID: "w1", Advertise: "127.0.0.1:1", Etcd: cli, Coordinator: conn, Transport: node, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); w.Run(ctx) }()
			deadline := time.Now().Add(15 * time.Second)
			for strings.Count(logs.String(), tc.wantInLog) < 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("worker did not stop after cancel")
			}
			out := logs.String()
			if n := strings.Count(out, tc.wantInLog); n < 2 {
				t.Fatalf("logged %q %d times, want a retry at least twice; log:\n%s", tc.wantInLog, n, out)
			}
			if !strings.Contains(out, "retry_in=500ms") {
				t.Errorf("retry delay does not back off (no retry_in=500ms); log:\n%s", out)
			}
			if list, _, err := membership.List(context.Background(), etcdtest.Client(t, eps)); err != nil || len(list) != 0 {
				t.Errorf("worker registered although it could not reach its cluster: %v %v", list, err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad id", Config{ID: "a/b"}},
		{"no addresses", Config{ID: "w"}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
}
