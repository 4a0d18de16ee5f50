package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The roles a certificate's organizational unit names.
const (
	RoleCoordinator = "coordinator"
	RoleWorker      = "worker"
	RoleClient      = "client"
	RoleEtcd        = "etcd"
)

// ErrNoTLS is returned by Flags.Load when no certificates are given and
// plaintext was not asked for.
var ErrNoTLS = errors.New("no TLS certificates: give --tls-cert, --tls-key and --tls-ca (`coordinator certs init DIR` makes them), or --insecure for plaintext on a network you trust")

// Flags are the TLS flags every binary shares.
type Flags struct {
	Cert, Key, CA string
	Insecure      bool
}

// Register adds the flags to fs, their defaults taken from the
// RINGTRAIN_TLS_CERT, RINGTRAIN_TLS_KEY, RINGTRAIN_TLS_CA and
// RINGTRAIN_INSECURE environment variables.
func (f *Flags) Register(fs *pflag.FlagSet) {
	ins, _ := strconv.ParseBool(os.Getenv("RINGTRAIN_INSECURE"))
	fs.StringVar(&f.Cert, "tls-cert", os.Getenv("RINGTRAIN_TLS_CERT"), "this process's certificate, PEM (env RINGTRAIN_TLS_CERT)")
	fs.StringVar(&f.Key, "tls-key", os.Getenv("RINGTRAIN_TLS_KEY"), "the certificate's private key, PEM (env RINGTRAIN_TLS_KEY)")
	fs.StringVar(&f.CA, "tls-ca", os.Getenv("RINGTRAIN_TLS_CA"), "the cluster's CA certificate, PEM: peers must present a certificate it signed (env RINGTRAIN_TLS_CA)")
	fs.BoolVar(&f.Insecure, "insecure", ins, "plaintext without authentication, for a network you trust (env RINGTRAIN_INSECURE)")
}

// Load reads the certificates the flags name. It returns nil, nil for
// --insecure, having logged loudly that the process runs without TLS.
func (f *Flags) Load(log *slog.Logger) (*Config, error) {
	given := f.Cert != "" || f.Key != "" || f.CA != ""
	switch {
	case f.Insecure && given:
		return nil, errors.New("--insecure with --tls-cert, --tls-key or --tls-ca: choose one")
	case f.Insecure:
		log.Warn("INSECURE: TLS is off (--insecure): every link is plaintext and unauthenticated; anyone who reaches this process's ports can use it")
		return nil, nil
	case !given:
		return nil, ErrNoTLS
	case f.Cert == "" || f.Key == "" || f.CA == "":
		return nil, errors.New("TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	return Load(f.Cert, f.Key, f.CA)
}

// Config is a process's certificate and the CA it trusts; a client's may
// have the CA only (LoadClient), and then presents no certificate. A nil
// *Config means plaintext: its methods return insecure credentials and nil
// TLS configurations.
type Config struct {
	cert tls.Certificate
	leaf *x509.Certificate
	pool *x509.CertPool
}

// Load reads a certificate, its key and the CA certificate, PEM files.
func Load(certFile, keyFile, caFile string) (*Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pool, err := LoadCA(caFile)
	if err != nil {
		return nil, err
	}
	return &Config{cert: cert, leaf: cert.Leaf, pool: pool}, nil
}

// LoadNamed loads the certificate name.crt, its key name.key and ca.crt
// from dir, as `coordinator certs init` lays them out.
func LoadNamed(dir, name string) (*Config, error) {
	return Load(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt"))
}

// LoadCA reads the CA certificate, a PEM file.
func LoadCA(caFile string) (*x509.CertPool, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", caFile)
	}
	return pool, nil
}

// LoadClient is Load for a client, which may be given only the CA
// (--tls-ca): it then verifies servers and presents no certificate.
func (f *Flags) LoadClient(log *slog.Logger) (*Config, error) {
	if f.CA != "" && f.Cert == "" && f.Key == "" && !f.Insecure {
		pool, err := LoadCA(f.CA)
		if err != nil {
			return nil, err
		}
		return &Config{pool: pool}, nil
	}
	return f.Load(log)
}

// New returns the configuration of a certificate and key, PEM, that pool's
// CA signed: a worker's, as the coordinator issued it.
func New(certPEM, keyPEM []byte, pool *x509.CertPool) (*Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &Config{cert: cert, leaf: cert.Leaf, pool: pool}, nil
}

// Name is the common name of the process's own certificate: a worker's ID.
func (c *Config) Name() string {
	if c == nil || c.leaf == nil {
		return ""
	}
	return c.leaf.Subject.CommonName
}

// Role is the organizational unit of the process's own certificate.
func (c *Config) Role() string {
	if c == nil || c.leaf == nil {
		return ""
	}
	return role(c.leaf)
}

// Server returns the configuration of a TLS server that verifies a client
// certificate against the CA when one is presented. The handshake admits
// a client without one, so that a worker can ask to be issued one
// (JoinService) and a health check can ask how the server is: every other
// call needs one, which CertRequired enforces.
func (c *Config) Server() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    c.pool,
	}
}

// Client returns the configuration of a TLS client that presents the
// certificate and verifies the server's against the CA and the host name
// it dials.
func (c *Config) Client() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: c.certs(),
		RootCAs:      c.pool,
	}
}

// Pool returns the CA the configuration trusts.
func (c *Config) Pool() *x509.CertPool { return c.pool }

func (c *Config) certs() []tls.Certificate {
	if c.leaf == nil {
		return nil
	}
	return []tls.Certificate{c.cert}
}

// ServerOption returns the gRPC server's transport credentials.
func (c *Config) ServerOption() grpc.ServerOption {
	if c == nil {
		return grpc.Creds(insecure.NewCredentials())
	}
	return grpc.Creds(credentials.NewTLS(c.Server()))
}

// DialOption returns the transport credentials of a gRPC client of the
// coordinator (or any server named by its host).
func (c *Config) DialOption() grpc.DialOption {
	if c == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(c.Client()))
}

// Peer is who is at the other end of a connection, by its certificate.
type Peer struct {
	Name string // the certificate's common name: a worker's ID
	Role string // its organizational unit: RoleWorker, RoleClient, ...
}

// Identity returns who made the gRPC call of ctx, by the certificate it
// presented; false when the call came over a connection without TLS.
func Identity(ctx context.Context) (Peer, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Peer{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return Peer{}, false
	}
	return CertIdentity(info.State.PeerCertificates[0]), true
}

// CertIdentity returns who a certificate names.
func CertIdentity(c *x509.Certificate) Peer {
	return Peer{Name: c.Subject.CommonName, Role: role(c)}
}

func role(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 0 {
		return ""
	}
	return c.Subject.OrganizationalUnit[0]
}

// Peer returns the configuration of both ends of a connection between
// workers (their gRPC peer service and the ring's data plane): each
// presents its certificate and requires the other's, a worker's signed by
// the CA, whatever address was dialled (workers are reached at addresses
// no certificate can list, such as a container's IP). Which worker it
// must be is checked per connection: ExpectName, Identity.
func (c *Config) Peer() *tls.Config {
	if c == nil {
		return nil
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: c.certs(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.pool,
		RootCAs:      c.pool,
		// Verification is not skipped: VerifyConnection does it, against
		// the CA, without the host name; a server ignores
		// InsecureSkipVerify.
		InsecureSkipVerify: true,
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		if r := role(leaf); r != RoleWorker {
			return fmt.Errorf("peer certificate %q is a %s's, not a worker's", leaf.Subject.CommonName, r)
		}
		return nil
	}
	return cfg
}

// ExpectName returns cfg, for one connection, refusing a server whose
// certificate's common name is not name; cfg itself when either is empty.
func ExpectName(cfg *tls.Config, name string) *tls.Config {
	if cfg == nil || name == "" {
		return cfg
	}
	cfg = cfg.Clone()
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		if got := cs.PeerCertificates[0].Subject.CommonName; got != name {
			return fmt.Errorf("%w: the certificate names %q, the ring %q", ErrWrongPeer, got, name)
		}
		return nil
	}
	return cfg
}

// ErrWrongPeer is returned when a peer's certificate names someone other
// than the peer expected.
var ErrWrongPeer = errors.New("peer is not who it should be")

// PeerServerOption returns the credentials of a worker's gRPC server, the
// ring's peer service: a client certificate, when presented, must be a
// worker's of the CA; CertRequired refuses calls without one but health
// checks.
func (c *Config) PeerServerOption() grpc.ServerOption {
	if c == nil {
		return grpc.Creds(insecure.NewCredentials())
	}
	cfg := c.Server()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			if r := role(cs.PeerCertificates[0]); r != RoleWorker {
				return fmt.Errorf("peer certificate %q is a %s's, not a worker's", cs.PeerCertificates[0].Subject.CommonName, r)
			}
		}
		return nil
	}
	return grpc.Creds(credentials.NewTLS(cfg))
}

// PeerDialOption returns the credentials of a gRPC client of a worker
// (Peer's configuration, any worker).
func (c *Config) PeerDialOption() grpc.DialOption {
	if c == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(c.Peer()))
}

// OverTLS reports whether the gRPC call of ctx came over TLS.
func OverTLS(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.AuthInfo.(credentials.TLSInfo)
	return ok
}

// ErrNoCertificate is the status of a call over TLS without a client
// certificate to a method that needs one.
var ErrNoCertificate = status.Error(codes.Unauthenticated, "this call needs a client certificate of the cluster's CA (--tls-cert, --tls-key)")

// CertRequired returns interceptors that refuse, over TLS, every call
// without a client certificate but those to methods open allows. Health
// checks are always allowed. Plaintext calls pass: --insecure trusts all.
func CertRequired(open func(method string) bool) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	check := func(ctx context.Context, method string) error {
		if strings.HasPrefix(method, "/grpc.health.") || (open != nil && open(method)) || !OverTLS(ctx) {
			return nil
		}
		if _, ok := Identity(ctx); !ok {
			return ErrNoCertificate
		}
		return nil
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}
}
