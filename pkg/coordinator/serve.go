package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/rpcserver"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// ErrLostLeadership is returned by Serve when another coordinator may lead
// now: this one's lease in etcd lapsed (etcd unreachable for LeaderTTL).
// The process should exit, to start again as a standby.
var ErrLostLeadership = errors.New("coordinator: lost the leadership")

// Serve runs a coordinator on lis until ctx ends. Several may run against
// one etcd (and one data directory): they elect a leader in etcd, and the
// others stand by. The leader recovers the jobs a coordinator before it
// recorded, then runs them, and reports SERVING to health checks; a
// standby reports NOT_SERVING and holds calls to its APIs until it leads
// (or their deadline), taking over within LeaderTTL of the leader's death.
// When ctx ends it stops gracefully (bounded, so that a hung watcher
// cannot block shutdown) and resigns.
func Serve(ctx context.Context, lis net.Listener, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	leading := make(chan struct{})
	certUnary, certStream := secure.CertRequired(func(m string) bool { return m == ringtrainv1.JoinService_Join_FullMethodName })
	srv, hs := rpcserver.New(cfg.TLS.ServerOption(),
		grpc.ChainUnaryInterceptor(certUnary, authUnary(cfg.Tokens), leaderOnlyUnary(leading)),
		grpc.ChainStreamInterceptor(certStream, authStream(cfg.Tokens), leaderOnlyStream(leading)))
	s.Register(srv)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rpcserver.Serve(srv, lis, "coordinator API") })
	g.Go(func() error { return s.lead(gctx, hs, leading) })
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

// lead campaigns for the leadership and, once elected, recovers and runs
// the jobs until ctx ends or the leadership is lost.
func (s *Server) lead(ctx context.Context, hs *health.Server, leading chan struct{}) error {
	ttl := int((s.cfg.LeaderTTL + time.Second - 1) / time.Second)
	sess, err := concurrency.NewSession(s.cfg.Etcd, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("coordinator: leadership lease: %w", err)
	}
	// Closing revokes the lease: a standby takes over at once.
	defer sess.Close()
	el := concurrency.NewElection(sess, etcdkeys.CoordinatorElection)
	s.log.Info("standing for leader", "advertise", s.cfg.Advertise)
	if err := el.Campaign(ctx, s.cfg.Advertise); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("coordinator: campaign for leader: %w", err)
	}
	s.log.Info("leading")
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	// Every write from here on holds only while the election key is this
	// coordinator's: once its lease lapses, another may lead, and the first
	// write refused ends this one's leading (abdicate), before it takes the
	// refusal for a failure of a job's.
	s.fence = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())}
	s.abdicate = stop
	if err := s.Recover(rctx); err != nil {
		return err
	}
	close(leading)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.cfg.Metrics.leader.Set(1)
	defer s.cfg.Metrics.leader.Set(0)
	go func() {
		select {
		case <-sess.Done(): // the lease lapsed: another may lead now
			stop()
		case <-rctx.Done():
		}
	}()
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		s.probeEtcd(rctx, hs)
	}()
	err = s.Run(rctx)
	stop()
	<-probed
	if err != nil {
		return err
	}
	if ctx.Err() == nil {
		hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		return ErrLostLeadership
	}
	return nil
}

// etcdProbe is how often a leader checks that it reaches etcd, and how
// long it waits for the answer.
const etcdProbe = time.Second

// probeEtcd reports NOT_SERVING to health checks while this leading
// coordinator cannot reach etcd, and SERVING again once it can, until ctx
// ends: without etcd it can neither plan epochs nor record jobs, and
// clients given several coordinators should wait rather than call it.
func (s *Server) probeEtcd(ctx context.Context, hs *health.Server) {
	t := time.NewTicker(etcdProbe)
	defer t.Stop()
	serving := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, etcdProbe)
		_, err := s.cfg.Etcd.Get(pctx, etcdkeys.CoordinatorElection, clientv3.WithCountOnly())
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && serving:
			s.log.Warn("etcd unreachable: NOT_SERVING until it answers", "error", err)
			hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		case err == nil && !serving:
			s.log.Info("etcd answers again: SERVING")
			hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		}
		serving = err == nil
	}
}

// leaderOnly waits until this coordinator leads, or the call's context
// ends. Health and reflection answer at once: they say who leads.
func leaderOnly(ctx context.Context, method string, leading <-chan struct{}) error {
	if isAlwaysOn(method) {
		return nil
	}
	select {
	case <-leading:
		return nil
	case <-ctx.Done():
		return status.Error(codes.Unavailable, "standby coordinator: not leading (yet)")
	}
}

func isAlwaysOn(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.") || strings.HasPrefix(method, "/grpc.reflection.")
}

func leaderOnlyUnary(leading <-chan struct{}) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := leaderOnly(ctx, info.FullMethod, leading); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func leaderOnlyStream(leading <-chan struct{}) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := leaderOnly(ss.Context(), info.FullMethod, leading); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
