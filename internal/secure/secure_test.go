package secure_test

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/secure"
)

func TestFlagsLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	tests := []struct {
		name  string
		f     secure.Flags
		is    error
		fails bool
		who   string // Name of the loaded Config
	}{
		{"nothing given", secure.Flags{}, secure.ErrNoTLS, true, ""},
		{"insecure", secure.Flags{Insecure: true}, nil, false, ""},
		{"insecure and a certificate", secure.Flags{Insecure: true, Cert: p("worker-1.crt")}, nil, true, ""},
		{"no key", secure.Flags{Cert: p("worker-1.crt"), CA: p("ca.crt")}, nil, true, ""},
		{"a key that is not the certificate's", secure.Flags{Cert: p("worker-1.crt"), Key: p("client.key"), CA: p("ca.crt")}, nil, true, ""},
		{"a CA that is not PEM", secure.Flags{Cert: p("worker-1.crt"), Key: p("worker-1.key"), CA: p("tokens")}, nil, true, ""},
		{"a worker", secure.Flags{Cert: p("worker-1.crt"), Key: p("worker-1.key"), CA: p("ca.crt")}, nil, false, "worker-1"},
	}
	for _, tc := range tests {
		cfg, err := tc.f.Load(slog.New(slog.DiscardHandler))
		switch {
		case tc.is != nil && !errors.Is(err, tc.is):
			t.Errorf("%s: got %v want %v", tc.name, err, tc.is)
		case tc.fails != (err != nil):
			t.Errorf("%s: got error %v, want one: %v", tc.name, err, tc.fails)
		case cfg.Name() != tc.who:
			t.Errorf("%s: got name %q want %q", tc.name, cfg.Name(), tc.who)
		}
	}
}

// TestPeer: between workers, both ends must hold a worker's certificate
// of the CA; ExpectName pins which worker.
func TestPeer(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	load := func(name string) *secure.Config {
		c, err := secure.LoadNamed(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		client, server string
		expect         string // ExpectName's name
		ok             bool
	}{
		{"worker-1", "worker-2", "", true},
		{"worker-1", "worker-2", "worker-2", true},
		{"worker-1", "worker-2", "worker-3", false},
		{"client", "worker-2", "", false},      // the server refuses a client's certificate
		{"worker-1", "coordinator", "", false}, // the client refuses a coordinator's
	}
	for _, tc := range tests {
		err := handshake(t, secure.ExpectName(load(tc.client).Peer(), tc.expect), load(tc.server).Peer())
		if tc.ok != (err == nil) {
			t.Errorf("%s to %s expecting %q: got %v, want success %v", tc.client, tc.server, tc.expect, err, tc.ok)
		}
	}
}

// handshake runs a TLS handshake over loopback TCP and returns the first
// error of either end.
func handshake(t *testing.T, client, server *tls.Config) error {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		s := tls.Server(conn, server)
		if err = s.Handshake(); err == nil {
			// TLS 1.3: the server verifies the client's certificate after
			// the client's handshake returns; reading the byte it then
			// writes sees the verdict.
			_, err = s.Read(make([]byte, 1))
		}
		done <- err
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(conn, client)
	cerr := c.Handshake()
	if cerr == nil {
		_, cerr = c.Write([]byte{1})
	}
	serr := <-done
	conn.Close()
	if cerr != nil {
		return cerr
	}
	return serr
}
