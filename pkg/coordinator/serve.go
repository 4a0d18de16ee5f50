package coordinator

import (
	"context"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/rpcserver"
)

// Serve recovers the jobs a coordinator before it recorded, then runs the
// coordinator's gRPC API on lis and its scheduler until ctx ends, then stops gracefully (bounded, so a hung watcher cannot block
// shutdown).
func Serve(ctx context.Context, lis net.Listener, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if err := s.Recover(ctx); err != nil {
		return err
	}
	srv, hs := rpcserver.New()
	s.Register(srv)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpcserver.Serve(srv, lis, "coordinator API") })
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		hs.Shutdown()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		return nil
	})
	return g.Wait()
}
