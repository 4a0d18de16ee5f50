package coordinator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func TestParseTokens(t *testing.T) {
	long := strings.Repeat("a", 16)
	tests := []struct {
		in   string
		want string // error text; "" for success
	}{
		{"admin " + long + "\n# a comment\n\nread " + strings.Repeat("b", 16) + "\n", ""},
		{"root " + long, `line 1: role "root": want admin or read`},
		{"admin", "line 1: want ROLE TOKEN, got 1 fields"},
		{"\nadmin short", "line 2: token of 5 characters: want at least 16"},
		{"# nothing\n", "no tokens"},
	}
	for i, tc := range tests {
		_, err := ParseTokens(strings.NewReader(tc.in))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test %d: %v", i, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("test %d: got %v want %q", i, err, tc.want)
		}
	}
}

// secureCluster is a coordinator serving over mutual TLS with tokens, and
// the directory of `certs init`.
type secureCluster struct {
	addr string
	dir  string
	ca   *certs.Authority // signs the extra certificates tests need
	etcd *clientv3.Client
}

func startSecure(t *testing.T) *secureCluster {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	cfg, err := secure.LoadNamed(dir, "coordinator")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(filepath.Join(dir, "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	join, err := os.ReadFile(filepath.Join(dir, "join.token"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	etcd := etcdtest.Client(t, etcdtest.Start(t))
	go func() {
		done <- Serve(ctx, lis, Config{DataDir: t.TempDir(), Etcd: etcd, Logger: slog.New(slog.DiscardHandler),
			LeaderTTL: time.Second, TLS: cfg, Tokens: tokens, Issuer: loadCA(t, dir), JoinToken: strings.TrimSpace(string(join))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &secureCluster{addr: lis.Addr().String(), dir: dir, ca: loadCA(t, dir), etcd: etcd}
}

func loadCA(t *testing.T, dir string) *certs.Authority {
	t.Helper()
	a, err := certs.LoadAuthority(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// client returns a job API client with the TLS configuration tc.
func (c *secureCluster) client(t *testing.T, tc *tls.Config) (ringtrainv1.JobServiceClient, ringtrainv1.WorkerServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ringtrainv1.NewJobServiceClient(conn), ringtrainv1.NewWorkerServiceClient(conn)
}

// pair returns the TLS client configuration of the certificate name in
// the cluster's directory.
func (c *secureCluster) pair(t *testing.T, name string) *tls.Config {
	t.Helper()
	cfg, err := secure.LoadNamed(c.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Client()
}

// issued returns a TLS client configuration trusting the cluster's CA and
// presenting a client certificate a issued with the given validity.
func (c *secureCluster) issued(t *testing.T, a *certs.Authority, notBefore, notAfter time.Time) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := a.Issue(certs.Leaf{Name: "client", Role: secure.RoleClient, NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.pair(t, "client")
	tc.Certificates = []tls.Certificate{pair}
	return tc
}

func (c *secureCluster) token(t *testing.T, role string) context.Context {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, role+".token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(b)))
}

// TestSecureJobAPI: a coordinator with TLS and tokens refuses every client
// that lacks a good certificate or the right token, and such a call changes
// nothing; a worker's certificate speaks only for that worker.
func TestSecureJobAPI(t *testing.T) {
	c := startSecure(t)
	admin := c.token(t, "admin")
	good, _ := c.client(t, c.pair(t, "client"))
	job, err := good.SubmitJob(admin, &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec), MinWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}

	other, err := certs.NewAuthority("another CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	noCert := c.pair(t, "client")
	noCert.Certificates = nil
	now := time.Now()
	expired := c.issued(t, c.ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	foreign := c.issued(t, other, now.Add(-time.Hour), now.Add(time.Hour))
	bad := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+strings.Repeat("0", 64))

	tests := []struct {
		name string
		tls  *tls.Config
		ctx  context.Context
		call string // submit, cancel, list
		want codes.Code
	}{
		{"no client certificate", noCert, admin, "submit", codes.Unauthenticated},
		{"certificate of another CA", foreign, admin, "cancel", codes.Unauthenticated}, // the client does not offer it: the server names its CA
		{"expired certificate", expired, admin, "submit", codes.Unavailable},
		{"no token", c.pair(t, "client"), t.Context(), "submit", codes.Unauthenticated},
		{"no token, reading", c.pair(t, "client"), t.Context(), "list", codes.Unauthenticated},
		{"unknown token", c.pair(t, "client"), bad, "cancel", codes.Unauthenticated},
		{"read token submits", c.pair(t, "client"), c.token(t, "read"), "submit", codes.PermissionDenied},
		{"read token cancels", c.pair(t, "client"), c.token(t, "read"), "cancel", codes.PermissionDenied},
		{"read token lists", c.pair(t, "client"), c.token(t, "read"), "list", codes.OK},
	}
	for _, tc := range tests {
		cl, _ := c.client(t, tc.tls)
		ctx, cancel := context.WithTimeout(tc.ctx, 5*time.Second)
		switch tc.call {
		case "submit":
			_, err = cl.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)})
		case "cancel":
			_, err = cl.CancelJob(ctx, &ringtrainv1.CancelJobRequest{JobId: job.GetId()})
		case "list":
			_, err = cl.ListJobs(ctx, &ringtrainv1.ListJobsRequest{})
		}
		cancel()
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: got %v (%v) want %v", tc.name, got, err, tc.want)
		}
		// Nothing changed: still one job, not cancelled.
		resp, err := good.ListJobs(admin, &ringtrainv1.ListJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetJobs()); n != 1 || resp.GetJobs()[0].GetState() == ringtrainv1.JobState_JOB_STATE_CANCELLED {
			t.Errorf("%s: after the call, %d jobs (%v), want the one job, not cancelled", tc.name, n, resp.GetJobs())
		}
	}

	// The worker API: a worker's certificate, for itself only.
	report := func(cert, worker string) codes.Code {
		_, wc := c.client(t, c.pair(t, cert))
		_, err := wc.ReportFailure(admin, &ringtrainv1.ReportFailureRequest{JobId: "no-such-job", WorkerId: worker, Error: "test"})
		return status.Code(err)
	}
	for _, tc := range []struct {
		cert, worker string
		want         codes.Code
	}{
		{"worker-1", "worker-2", codes.PermissionDenied},
		{"client", "worker-1", codes.PermissionDenied},
		{"worker-1", "worker-1", codes.NotFound}, // allowed, and the job is not there
	} {
		if got := report(tc.cert, tc.worker); got != tc.want {
			t.Errorf("%s reporting for %s: got %v want %v", tc.cert, tc.worker, got, tc.want)
		}
	}
}

// TestJoin: a worker without a certificate is issued one for the ID it
// asks for, with the join token, unless that ID is registered now.
func TestJoin(t *testing.T) {
	c := startSecure(t)
	if _, err := c.etcd.Put(t.Context(), etcdkeys.Worker("taken"), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	joinToken := c.token(t, "join")
	anon := c.pair(t, "client")
	anon.Certificates = nil
	tests := []struct {
		name, id string
		ctx      context.Context
		want     codes.Code
	}{
		{"the join token", "w-new", joinToken, codes.OK},
		{"no token", "w-new", t.Context(), codes.Unauthenticated},
		{"the admin token", "w-new", c.token(t, "admin"), codes.Unauthenticated},
		{"a registered ID", "taken", joinToken, codes.AlreadyExists},
		{"an invalid ID", "a/b", joinToken, codes.InvalidArgument},
	}
	for _, tc := range tests {
		conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(anon)))
		if err != nil {
			t.Fatal(err)
		}
		_, csr, err := certs.NewRequest(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ringtrainv1.NewJoinServiceClient(conn).Join(tc.ctx, &ringtrainv1.JoinRequest{Csr: csr})
		conn.Close()
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: got %v (%v) want %v", tc.name, got, err, tc.want)
			continue
		}
		if tc.want != codes.OK {
			continue
		}
		blk, _ := pem.Decode(resp.GetCertificate())
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if p := secure.CertIdentity(cert); p.Name != tc.id || p.Role != secure.RoleWorker {
			t.Errorf("%s: issued %+v want worker %s", tc.name, p, tc.id)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: anon.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
