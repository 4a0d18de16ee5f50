package worker

import (
	"context"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ringtrain/ringtrain/internal/rpcserver"
	"github.com/ringtrain/ringtrain/internal/secure"
)

// Serve runs a worker whose gRPC server (the ring peer service) listens on
// lis, until ctx ends. It makes cfg.Transport as cfg.RingTransport says.
func Serve(ctx context.Context, lis net.Listener, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	tr, opts, err := newTransport(cfg, lis, log)
	if err != nil {
		return err
	}
	cfg.Transport = tr
	certUnary, certStream := secure.CertRequired(nil)
	srv, hs := rpcserver.New(append(opts, grpc.ChainUnaryInterceptor(certUnary), grpc.ChainStreamInterceptor(certStream))...)
	// The server serves before the worker registers: NOT_SERVING until it
	// has, and whenever it has lost its registration.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	cfg.Health = func(registered bool) {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if registered {
			st = healthpb.HealthCheckResponse_SERVING
		}
		hs.SetServingStatus("", st)
	}
	w, err := New(cfg)
	if err != nil {
		srv.Stop()
		tr.Close()
		return err
	}
	tr.Register(srv)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpcserver.Serve(srv, lis, "ring peers") })
	g.Go(func() error {
		defer srv.Stop()
		defer tr.Close()
		defer hs.Shutdown()
		return w.Run(gctx)
	})
	return g.Wait()
}
