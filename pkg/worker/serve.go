package worker

import (
	"context"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/rpcserver"
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
	w, err := New(cfg)
	if err != nil {
		tr.Close()
		return err
	}
	srv, hs := rpcserver.New(opts...)
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
