package allreduce_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/grpcnet"
	"github.com/ringtrain/ringtrain/pkg/allreduce/memnet"
	"github.com/ringtrain/ringtrain/pkg/allreduce/tcpnet"
)

// The internal tests start transports by name, and make in-memory
// networks, through these: tcpnet, grpcnet and memnet import allreduce, so
// only this package can make them.
func init() {
	allreduce.NewTestNetwork = func(seed uint64) allreduce.TestNetwork { return memnet.NewNetwork(seed) }
	allreduce.Servers["grpc"] = func(addr string) (allreduce.Transport, string, func(), error) {
		return serveGRPC(addr)
	}
	allreduce.Servers["tcp"] = func(addr string) (allreduce.Transport, string, func(), error) {
		return serveTCP(addr, grpc.Creds(insecure.NewCredentials()))
	}
	allreduce.Servers["tcp-tls"] = func(addr string) (allreduce.Transport, string, func(), error) {
		return serveTCP(addr, grpc.Creds(credentials.NewTLS(testTLS())), tcpnet.WithTLS(testTLS()))
	}
}

// serveTCP starts a TCP transport whose data listener is on an ephemeral
// port of 127.0.0.1 and whose rendezvous is on a new gRPC server at addr.
func serveTCP(addr string, creds grpc.ServerOption, opts ...tcpnet.Option) (*tcpnet.Transport, string, func(), error) {
	data, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	t := tcpnet.New(data, "", append([]tcpnet.Option{tcpnet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	listening, stop, err := serveOn(addr, grpc.NewServer(creds), t)
	return t, listening, stop, err
}

// serveGRPC starts a gRPC transport on a new server listening on addr.
func serveGRPC(addr string) (*grpcnet.Node, string, func(), error) {
	node := grpcnet.NewNode(grpcnet.WithNodeLogger(slog.New(slog.DiscardHandler)))
	listening, stop, err := serveOn(addr, grpc.NewServer(grpcnet.ServerOptions()...), node)
	return node, listening, stop, err
}

// serveOn registers t, health and reflection on s, as a worker's server
// has them, and serves s on addr. stop closes t, then stops s; on error t
// is closed already.
func serveOn(addr string, s *grpc.Server, t interface {
	Register(grpc.ServiceRegistrar)
	Close() error
}) (listening string, stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Close()
		return "", nil, err
	}
	t.Register(s)
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	stop = func() {
		t.Close()
		s.Stop()
		<-done
	}
	return lis.Addr().String(), stop, nil
}

var testTLS = sync.OnceValue(func() *tls.Config {
	cfg, err := selfSigned()
	if err != nil {
		panic(err)
	}
	return cfg
})

// selfSigned returns a mutual-TLS configuration for 127.0.0.1 whose one
// self-signed certificate (testdata/tls, valid until 2126) is both every
// member's identity and the only authority each trusts. It is a file, not
// made at run time, so that member processes trust each other.
func selfSigned() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join("testdata", "tls", "cert.pem"), filepath.Join("testdata", "tls", "key.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
