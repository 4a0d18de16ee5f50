package rpcserver

import (
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// New returns a server with opts, health (reporting SERVING) and reflection
// registered, and its health server so the caller can report shutdown.
func New(opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// Serve serves srv on lis until it is stopped; stopping is not an error.
// what names the service in the error.
func Serve(srv *grpc.Server, lis net.Listener, what string) error {
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s on %s: %w", what, lis.Addr(), err)
	}
	return nil
}
