// Package etcdtest starts real, embedded etcd servers for tests of any
// package, in place of a fake. It is linked into test binaries only.
package etcdtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/pkg/embedetcd"
	"github.com/ringtrain/ringtrain/pkg/etcdlog"
)

// Start starts a Fast etcd on a free loopback port in t.TempDir(),
// stops it when the test ends, and returns its endpoints. Only etcd's
// errors are logged. Tests of any package use it in place of a fake.
func Start(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := embedetcd.Start(ctx, embedetcd.Config{
		// A directory etcd creates itself gets the 0700 it wants.
		Dir:       filepath.Join(t.TempDir(), "etcd"),
		ClientURL: "http://127.0.0.1:0",
		Fast:      true,
		Logger:    testLogger(),
	})
	if err != nil {
		t.Fatalf("starting embedded etcd: %v", err)
	}
	t.Cleanup(s.Close)
	return s.Endpoints()
}

// Client returns a client of endpoints that is closed when the test
// ends, before the server Start started (cleanups run last first).
func Client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      etcdlog.New(testLogger()),
	})
	if err != nil {
		t.Fatalf("connecting to etcd %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// testLogger writes errors to stderr rather than through t.Log, which
// panics when etcd logs after the test has returned.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
