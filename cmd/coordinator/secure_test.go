package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// The fake services of these tests serve plaintext, unless a test says
// otherwise: the cluster commands are run as with --insecure.
func TestMain(m *testing.M) {
	os.Setenv("RINGTRAIN_INSECURE", "true")
	os.Exit(m.Run())
}

// TestCLISecure: the cluster commands connect with the --tls-* flags and
// send --token (or $RINGTRAIN_TOKEN) as a bearer token; without
// certificates they refuse to start unless --insecure says so.
func TestCLISecure(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	srv, err := secure.LoadNamed(dir, "coordinator")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		auth []string // the authorization metadata of each call
	)
	record := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		auth = append(auth, strings.Join(md.Get("authorization"), ","))
		mu.Unlock()
		return h(ctx, req)
	})
	addr := serve(t, &fakeJobService{jobs: map[string]*ringtrainv1.Job{}}, srv.ServerOption(), record)
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokenFile, []byte("tok-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--insecure=false", "--tls-cert", filepath.Join(dir, "client.crt"), "--tls-key", filepath.Join(dir, "client.key"), "--tls-ca", filepath.Join(dir, "ca.crt")}

	tests := []struct {
		name  string
		args  []string
		env   string // $RINGTRAIN_TOKEN
		err   error  // want errors.Is; nil: success, unless fails
		fails bool
		auth  string // the authorization the server saw, on success
	}{
		{"TLS and --token", append([]string{"--token", "tok-flag"}, tlsArgs...), "", nil, false, "Bearer tok-flag"},
		{"TLS and $RINGTRAIN_TOKEN", tlsArgs, "tok-env", nil, false, "Bearer tok-env"},
		{"TLS, no token", tlsArgs, "", nil, false, ""},
		{"TLS and --token @FILE", append([]string{"--token", "@" + tokenFile}, tlsArgs...), "", nil, false, "Bearer tok-file"},
		{"--token @ a missing file", append([]string{"--token", "@" + tokenFile + ".missing"}, tlsArgs...), "", os.ErrNotExist, true, ""},
		{"no certificates, no --insecure", []string{"--insecure=false"}, "", secure.ErrNoTLS, true, ""},
		{"plaintext to a TLS server", []string{"--insecure"}, "", nil, true, ""},
		{"half the certificates", []string{"--insecure=false", "--tls-cert", filepath.Join(dir, "client.crt")}, "", nil, true, ""},
	}
	for _, tc := range tests {
		t.Setenv("RINGTRAIN_TOKEN", tc.env)
		mu.Lock()
		auth = nil
		mu.Unlock()
		_, err := runCLI(t, append([]string{"jobs", "--coordinator", addr, "--timeout", "3s"}, tc.args...)...)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("%s: got %v want %v", tc.name, err, tc.err)
		case tc.fails && err == nil:
			t.Errorf("%s: succeeded, want an error", tc.name)
		case !tc.fails && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.fails:
			mu.Lock()
			if len(auth) != 1 || auth[0] != tc.auth {
				t.Errorf("%s: the server saw authorization %q want [%q]", tc.name, auth, tc.auth)
			}
			mu.Unlock()
		}
	}
}
