package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/ringtrain/ringtrain/pkg/etcdlog"
)

// Defaults for the zero Config fields.
const (
	// DefaultClientURL is etcd's usual client port on loopback only: a
	// coordinator that serves remote workers sets ClientURL to an address
	// they can reach.
	DefaultClientURL = "http://127.0.0.1:2379"
	// DefaultPeerURL takes any free port: a single node has no peers, but
	// etcd insists on listening for them.
	DefaultPeerURL = "http://127.0.0.1:0"
)

// ErrNoDir is returned by Start when Config.Dir is empty: etcd would
// otherwise write into the working directory.
var ErrNoDir = errors.New("embedetcd: Config.Dir is required")

// Config says where an etcd member keeps its data and listens: a
// single-node etcd by default.
type Config struct {
	// Dir is the data directory. Starting again on the same Dir keeps the
	// keys written before.
	Dir string
	// ClientURL is the address clients connect to, DefaultClientURL when
	// empty. Port 0 picks a free port; Endpoints reports the one chosen.
	ClientURL string
	// PeerURL is the raft peer address, DefaultPeerURL when empty.
	PeerURL string
	// Name and Cluster make this server one member of a cluster: Name is
	// its member name ("ringtrain" when empty) and Cluster etcd's initial
	// cluster, "name=peer-url,..." with this member among them (a fixed
	// PeerURL, not port 0). Empty Cluster: a cluster of this one member.
	// A member started again on its Dir rejoins from its data.
	Name, Cluster string
	// Fast trades durability and robustness for speed, for tests: 10 ms
	// heartbeats, a 100 ms election timeout and no fsync.
	Fast bool
	// Logger receives etcd's warnings and errors; nil means slog.Default().
	Logger *slog.Logger
	// TLS, when set, serves clients over mutual TLS (https client URLs):
	// a client must present a certificate TLS.CAFile signed. NewClient
	// presents TLS's own certificate.
	TLS *TLSFiles
}

// TLSFiles name a PEM certificate, its key and the CA that clients'
// certificates must be signed by.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

func (f *TLSFiles) info() transport.TLSInfo {
	return transport.TLSInfo{CertFile: f.CertFile, KeyFile: f.KeyFile, TrustedCAFile: f.CAFile, ClientCertAuth: true}
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	tls       *TLSFiles
	endpoints []string
	logger    *slog.Logger
	closeOnce sync.Once
	// hush demotes etcd's logs to debug while it starts and stops.
	hush atomic.Bool
}

// Start starts etcd and returns once it serves clients, or fails when ctx
// ends first. Close the Server to stop it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s := &Server{logger: cfg.Logger, tls: cfg.TLS}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.hush.Store(true)
	ecfg, err := cfg.embedConfig(etcdlog.NewHushed(s.logger, &s.hush))
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: starting etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedetcd: starting etcd in %s: %w", cfg.Dir, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedetcd: waiting for etcd in %s to be ready: %w", cfg.Dir, ctx.Err())
	}
	s.etcd = e
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	for _, l := range e.Clients {
		s.endpoints = append(s.endpoints, scheme+dialable(l.Addr()))
	}
	s.hush.Store(false)
	return s, nil
}

// Endpoints returns the client addresses etcd listens on, with the real
// port when port 0 was asked for and loopback in place of a wildcard
// host, ready for clientv3.Config.Endpoints on this machine.
func (s *Server) Endpoints() []string { return s.endpoints }

// NewClient returns a client of this server that logs through the
// server's logger. The caller closes it, before closing the Server: open
// watches otherwise hold Close up for etcd's request timeout.
func (s *Server) NewClient() (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   s.endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      etcdlog.New(s.logger),
	}
	if s.tls != nil {
		tc, err := s.tls.info().ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("embedetcd: client TLS: %w", err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: connecting to %v: %w", s.endpoints, err)
	}
	return cli, nil
}

// Err reports errors that stop etcd while it runs; it is closed once etcd
// has stopped.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd and waits until it has stopped. It is safe to call more
// than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.hush.Store(true)
		s.etcd.Close()
	})
}

func (cfg Config) embedConfig(logger *zap.Logger) (*embed.Config, error) {
	if cfg.Dir == "" {
		return nil, ErrNoDir
	}
	clientURL, err := parseURL(cfg.ClientURL, DefaultClientURL)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		clientURL.Scheme = "https"
	} else if clientURL.Scheme != "http" {
		return nil, fmt.Errorf("embedetcd: client URL %s: https needs Config.TLS", clientURL)
	}
	peerURL, err := parseURL(cfg.PeerURL, DefaultPeerURL)
	if err != nil {
		return nil, err
	}
	if peerURL.Scheme != "http" {
		// Peers speak plain HTTP: a cluster's members share a trusted
		// network (docs/deploy.md).
		return nil, fmt.Errorf("embedetcd: peer URL %s: want http://host:port", peerURL)
	}

	ec := embed.NewConfig()
	ec.Dir = cfg.Dir
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "ringtrain"
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	if cfg.TLS != nil {
		ec.ClientTLSInfo = cfg.TLS.info()
	}
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.Cluster != "" {
		if peerURL.Port() == "0" {
			return nil, fmt.Errorf("embedetcd: member %s of cluster %s: its peer URL needs a fixed port, not %s", ec.Name, cfg.Cluster, peerURL)
		}
		ec.InitialCluster = cfg.Cluster
	}
	// The HTTP/JSON gateway dials the configured client address, which is
	// not dialable when it asks for port 0; ringtrain speaks gRPC only.
	ec.EnableGRPCGateway = false
	// A long-lived coordinator writes job state for days: keep an hour of
	// history, enough for any watch to resume, and drop the rest.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	switch {
	case cfg.Fast:
		ec.TickMs = 10
		ec.ElectionMs = 100
		ec.UnsafeNoFsync = true
	case cfg.Cluster == "":
		// A single node has no peers to heartbeat, and its first election
		// waits a random 1 to 10 ticks: with etcd's 100 ms tick, up to a
		// second of every start-up.
		ec.TickMs = 10
		ec.ElectionMs = 100
	}
	return ec, nil
}

func parseURL(raw, def string) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: parsing URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
		return nil, fmt.Errorf("embedetcd: URL %q: want http://host:port (https with TLS)", raw)
	}
	return u, nil
}

// dialable turns a listener address into one a local client can dial: a
// wildcard host (0.0.0.0, ::) becomes loopback.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
