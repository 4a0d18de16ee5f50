package worker

import (
	"context"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/rpcserver"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// Serve runs a worker whose ring peer service listens on lis, until ctx
// ends. cfg.Node is created here when nil.
func Serve(ctx context.Context, lis net.Listener, cfg Config) error {
	if cfg.Node == nil {
		cfg.Node = allreduce.NewNode(allreduce.WithNodeLogger(cfg.Logger))
	}
	w, err := New(cfg)
	if err != nil {
		return err
	}
	srv, hs := rpcserver.New(allreduce.ServerOptions()...)
	cfg.Node.Register(srv)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpcserver.Serve(srv, lis, "ring peers") })
	g.Go(func() error {
		defer srv.Stop()
		defer cfg.Node.Close()
		defer hs.Shutdown()
		return w.Run(gctx)
	})
	return g.Wait()
}
