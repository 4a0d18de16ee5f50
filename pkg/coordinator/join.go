package coordinator

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Join issues a worker its certificate: the call must come over TLS,
// carry the join token and request a valid worker ID that no live worker
// holds.
func (s *Server) Join(ctx context.Context, req *ringtrainv1.JoinRequest) (*ringtrainv1.JoinResponse, error) {
	if s.cfg.Issuer == nil || s.cfg.JoinToken == "" {
		return nil, status.Error(codes.FailedPrecondition, "this coordinator issues no certificates (serve --tls-ca-key and --join-token-file): give the worker its own --tls-cert and --tls-key")
	}
	if !secure.OverTLS(ctx) {
		return nil, status.Error(codes.FailedPrecondition, "join over TLS only")
	}
	tok, err := bearer(ctx)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.JoinToken)) != 1 {
		return nil, status.Error(codes.Unauthenticated, "the join token is not this cluster's")
	}
	csr, err := x509.ParseCertificateRequest(req.GetCsr())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate request: %v", err)
	}
	id := csr.Subject.CommonName
	if err := etcdkeys.ValidID(id); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate request: worker ID: %v", err)
	}
	resp, err := s.cfg.Etcd.Get(ctx, etcdkeys.Worker(id))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "check worker %s in etcd: %v", id, err)
	}
	if resp.Count > 0 {
		return nil, status.Errorf(codes.AlreadyExists, "worker %s is registered: choose another --id", id)
	}
	now := time.Now()
	cert, err := s.cfg.Issuer.SignRequest(req.GetCsr(), certs.Leaf{Name: id, Role: secure.RoleWorker, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(certs.LeafLife)})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.log.Info("issued a worker certificate", "worker", id)
	return &ringtrainv1.JoinResponse{Certificate: cert}, nil
}
