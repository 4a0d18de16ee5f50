package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Join asks the coordinator on conn (dialled over TLS that verifies it,
// without a certificate: anon) to issue a certificate for worker id,
// presenting the cluster's join token, and returns the worker's TLS
// configuration: that certificate and the key made here, which never
// leaves the process. While the coordinator cannot be reached, or stands
// by, it asks again until ctx ends; a refusal is returned at once.
func Join(ctx context.Context, conn grpc.ClientConnInterface, anon *secure.Config, token, id string, log *slog.Logger) (*secure.Config, error) {
	keyPEM, csr, err := certs.NewRequest(id)
	if err != nil {
		return nil, err
	}
	c := ringtrainv1.NewJoinServiceClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	delay := 250 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.Join(cctx, &ringtrainv1.JoinRequest{Csr: csr}, grpc.WaitForReady(true))
		cancel()
		switch status.Code(err) {
		case codes.OK:
			cfg, err := secure.New(resp.GetCertificate(), keyPEM, anon.Pool())
			if err != nil {
				return nil, fmt.Errorf("join: the coordinator's certificate for %s: %w", id, err)
			}
			if cfg.Name() != id || cfg.Role() != secure.RoleWorker {
				return nil, fmt.Errorf("%w: asked for worker %q, issued %s %q", ErrIdentity, id, cfg.Role(), cfg.Name())
			}
			return cfg, nil
		case codes.Unavailable, codes.DeadlineExceeded:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("join as %s: %w", id, ctx.Err())
			}
			log.Warn("join: coordinator not answering; retrying", "error", err, "retry_in", delay)
		default:
			return nil, fmt.Errorf("join as %s: %s", id, status.Convert(err).Message())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join as %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
