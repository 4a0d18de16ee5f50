package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/grpcnet"
	"github.com/ringtrain/ringtrain/pkg/allreduce/tcpnet"
)

// RingTransport names the data plane of a worker's rings. Every worker of
// a cluster must use the same.
type RingTransport string

const (
	// TCP, the default, carries the ring's bytes on plain TCP connections,
	// one per ring edge, introduced through the gRPC peer service.
	TCP RingTransport = "tcp"
	// GRPC carries them on gRPC streams: slower, for networks where only
	// the gRPC port is open.
	GRPC RingTransport = "grpc"
)

// String implements pflag.Value; the zero value is TCP.
func (t RingTransport) String() string {
	if t == "" {
		return string(TCP)
	}
	return string(t)
}

// Set implements pflag.Value.
func (t *RingTransport) Set(s string) error {
	switch RingTransport(s) {
	case TCP, GRPC:
		*t = RingTransport(s)
		return nil
	}
	return fmt.Errorf("ring transport %q: want %s or %s", s, TCP, GRPC)
}

// Type implements pflag.Value.
func (RingTransport) Type() string { return "tcp|grpc" }

// peerTransport is what Serve needs of a ring transport: to form rings, to
// serve its PeerService on the worker's gRPC server, and to close.
type peerTransport interface {
	allreduce.Transport
	Register(grpc.ServiceRegistrar)
	Close() error
}

// newTransport builds cfg's ring transport for a worker whose gRPC server
// listens on lis, and the options that server needs for it.
func newTransport(cfg Config, lis net.Listener, log *slog.Logger) (peerTransport, []grpc.ServerOption, error) {
	peer := allreduce.DefaultTimeout
	if cfg.RingTimeout > 0 {
		peer = cfg.RingTimeout
	}
	if cfg.RingTransport == GRPC {
		return grpcnet.NewNode(grpcnet.WithNodeLogger(log), grpcnet.WithTLS(cfg.TLS.Peer()), grpcnet.WithPeerTimeout(peer)),
			append(grpcnet.ServerOptions(), cfg.TLS.PeerServerOption()), nil
	}
	listen := cfg.RingListen
	if listen == "" {
		host, _, err := net.SplitHostPort(lis.Addr().String())
		if err != nil {
			return nil, nil, fmt.Errorf("ring listener: %w", err)
		}
		listen = net.JoinHostPort(host, "0")
	}
	data, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen for ring data on %s: %w", listen, err)
	}
	advertise := cfg.RingAdvertise
	if advertise == "" {
		host, _, herr := net.SplitHostPort(cfg.Advertise)
		_, port, perr := net.SplitHostPort(data.Addr().String())
		if herr != nil || perr != nil {
			data.Close()
			return nil, nil, fmt.Errorf("ring data address from %s and %s: %w", cfg.Advertise, data.Addr(), errors.Join(herr, perr))
		}
		advertise = net.JoinHostPort(host, port)
	}
	return tcpnet.New(data, advertise, tcpnet.WithLogger(log), tcpnet.WithTLS(cfg.TLS.Peer()), tcpnet.WithPeerTimeout(peer)),
		[]grpc.ServerOption{cfg.TLS.PeerServerOption()}, nil
}

// NextPort returns addr with its port increased by one: the default data
// address of a worker whose gRPC address is addr.
func NextPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p >= 65535 {
		return "", fmt.Errorf("address %s: port %q has no next port", addr, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}
