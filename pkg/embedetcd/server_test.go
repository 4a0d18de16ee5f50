package embedetcd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/ringtrain/ringtrain/internal/certs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Members of one cluster in one process (TestCluster) talk over
		// etcd's peer HTTP connections, which can outlive the members'
		// Close: the server side waits for the client side to hang up,
		// and the client side sits in a keep-alive pool.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	)
}

func put(ctx context.Context, t *testing.T, s *Server, key, value string) {
	t.Helper()
	cli, err := s.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(ctx context.Context, t *testing.T, s *Server, key string) string {
	t.Helper()
	cli, err := s.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// Port 0 yields a real, dialable port; data survive a restart on the same
// directory.
func TestPortZeroAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0", Fast: true, Logger: testLogger()}
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	eps := s.Endpoints()
	if u, err := url.Parse(eps[0]); len(eps) != 1 || err != nil || u.Port() == "0" || u.Port() == "" {
		t.Fatalf("endpoints: got %v want one with a real port", eps)
	}
	put(ctx, t, s, "k", "v")
	s.Close()
	s.Close() // idempotent
	if _, open := <-s.Err(); open {
		t.Error("Err channel still open after Close")
	}

	s, err = Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restarting: %v", err)
	}
	defer s.Close()
	if got := get(ctx, t, s, "k"); got != "v" {
		t.Errorf("after restart: got %q want %q", got, "v")
	}
}

// Two servers in one process, as in a test binary, must not trip over
// Prometheus' default registry; a wildcard host is reported as loopback.
func TestTwoServersInOneProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "a"), ClientURL: "http://127.0.0.1:0", Fast: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "b"), ClientURL: "http://0.0.0.0:0", Fast: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Endpoints()[0], "http://127.0.0.1:") {
		t.Errorf("wildcard endpoint: got %v want loopback", b.Endpoints())
	}
	put(ctx, t, a, "k", "a")
	put(ctx, t, b, "k", "b")
	if got := get(ctx, t, a, "k") + get(ctx, t, b, "k"); got != "ab" {
		t.Errorf("got %q want %q: the servers share data", got, "ab")
	}
}

// Three members form one cluster, each Start returning once the cluster
// has a leader; with one stopped, the other two keep serving, and it
// rejoins from its data.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := []string{"a", "b", "c"}
	var cluster []string
	cfgs := make([]Config, len(names))
	for i, name := range names {
		cfgs[i] = Config{Name: name, Dir: filepath.Join(t.TempDir(), name), ClientURL: "http://" + freeAddr(t),
			PeerURL: "http://" + freeAddr(t), Fast: true, Logger: testLogger()}
		cluster = append(cluster, name+"="+cfgs[i].PeerURL)
	}
	members := make([]*Server, len(names))
	errs := make(chan error, len(names))
	for i := range cfgs {
		cfgs[i].Cluster = strings.Join(cluster, ",")
		go func() {
			var err error
			members[i], err = Start(ctx, cfgs[i])
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	put(ctx, t, members[0], "k", "v")
	if got := get(ctx, t, members[2], "k"); got != "v" {
		t.Errorf("member c read %q, want what member a wrote, %q", got, "v")
	}
	members[0].Close()
	put(ctx, t, members[1], "k", "w")
	if got := get(ctx, t, members[2], "k"); got != "w" {
		t.Errorf("with member a stopped, member c read %q, want %q", got, "w")
	}
	var err error
	if members[0], err = Start(ctx, cfgs[0]); err != nil {
		t.Fatalf("restarting member a: %v", err)
	}
	if got := get(ctx, t, members[0], "k"); got != "w" {
		t.Errorf("member a, rejoined, read %q, want %q", got, "w")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestFixedPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://" + addr, Fast: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Endpoints(); len(got) != 1 || got[0] != "http://"+addr {
		t.Errorf("got %v want [http://%s]", got, addr)
	}
	// The port is taken: a second server says so.
	_, err = Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://" + addr, Fast: true, Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second server on %s: got %v want address already in use", addr, err)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i, test := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ErrNoDir.Error()},
		{Config{Dir: dir, ClientURL: "127.0.0.1:2379"}, "parsing URL"},
		{Config{Dir: dir, ClientURL: "tcp://127.0.0.1:2379"}, "want http://host:port"},
		{Config{Dir: dir, ClientURL: "https://127.0.0.1:2379"}, "https needs Config.TLS"},
		{Config{Dir: dir, PeerURL: "https://127.0.0.1:2380"}, "peer URL"},
		{Config{Dir: dir, PeerURL: "http://127.0.0.1"}, "want http://host:port"},
		{Config{Dir: dir, Name: "a", Cluster: "a=http://127.0.0.1:0,b=http://127.0.0.1:2"}, "needs a fixed port"},
	} {
		if _, err := Start(ctx, test.cfg); err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("test %d: got %v want %q", i, err, test.want)
		}
	}
}

// A context that ends before etcd is ready stops it, leaving nothing
// running (TestMain checks for goroutines).
func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0", Fast: true, Logger: testLogger()})
	if err == nil {
		s.Close()
		t.Skip("etcd was ready before Start saw the cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v want context.Canceled", err)
	}
}

// testLogger writes errors to stderr rather than through t.Log, which
// panics when etcd logs after the test has returned.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// TestTLS: with certificates, etcd serves clients over mutual TLS only.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	files := &TLSFiles{CertFile: filepath.Join(dir, "etcd.crt"), KeyFile: filepath.Join(dir, "etcd.key"), CAFile: filepath.Join(dir, "ca.crt")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Config{Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0", Fast: true, Logger: testLogger(), TLS: files})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ep := s.Endpoints()[0]; !strings.HasPrefix(ep, "https://") {
		t.Errorf("endpoint %s: want https", ep)
	}
	cli, err := s.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	// A client with the CA but no certificate of its own is refused.
	pool, err := (&transport.TLSInfo{TrustedCAFile: files.CAFile}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	anon, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), TLS: pool, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := anon.Get(short, "k"); err == nil {
		t.Error("a client without a certificate read a key")
	}
}
