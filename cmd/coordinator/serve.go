package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/metrics"
	"github.com/ringtrain/ringtrain/internal/netaddr"
	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/coordinator"
	"github.com/ringtrain/ringtrain/pkg/embedetcd"
	"github.com/ringtrain/ringtrain/pkg/etcdlog"
)

func newServeCmd() *cobra.Command {
	var (
		listen, dataDir, etcdEndpoints, etcdListen, etcdPeer, advertise string
		stall, leaderTTL                                                time.Duration
		tokenFile, caKeyFile, joinTokenFile, metricsListen              string
		tlsFlags                                                        secure.Flags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the coordinator service (with an embedded etcd unless --etcd is given)",
		Long: "Run the coordinator service. Coordinators given the same external etcd (--etcd) and data\n" +
			"directory elect a leader; the others stand by and take over within --leader-ttl when it dies,\n" +
			"resuming its jobs from their checkpoints. Give workers and the CLI every coordinator's\n" +
			"address (--coordinator a:7070,b:7070): they follow the leader.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := slog.Default()
			tlsCfg, err := tlsFlags.Load(log)
			if err != nil {
				return err
			}
			var tokens *coordinator.Tokens
			switch {
			case tokenFile != "":
				if tokens, err = coordinator.LoadTokens(tokenFile); err != nil {
					return err
				}
			case tlsCfg != nil:
				log.Warn("no --token-file: any client with a certificate of the CA may submit, cancel and download jobs")
			}
			var (
				issuer    *certs.Authority
				joinToken string
			)
			if caKeyFile != "" || joinTokenFile != "" {
				if issuer, joinToken, err = loadIssuer(tlsFlags, caKeyFile, joinTokenFile); err != nil {
					return err
				}
			}
			var endpoints []string
			if etcdEndpoints == "" {
				ecfg := embedetcd.Config{Dir: filepath.Join(dataDir, "etcd"), ClientURL: etcdListen, PeerURL: etcdPeer, Logger: log}
				if tlsCfg != nil {
					// etcd serves clients with the coordinator's certificate.
					ecfg.TLS = &embedetcd.TLSFiles{CertFile: tlsFlags.Cert, KeyFile: tlsFlags.Key, CAFile: tlsFlags.CA}
				}
				srv, err := embedetcd.Start(ctx, ecfg)
				if err != nil {
					return err
				}
				defer srv.Close()
				endpoints = srv.Endpoints()
				log.Info("embedded etcd serving", "endpoints", strings.Join(endpoints, ","))
			} else {
				endpoints = strings.Split(etcdEndpoints, ",")
			}
			cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: etcdlog.New(log), TLS: tlsCfg.Client()})
			if err != nil {
				return fmt.Errorf("etcd client for %s: %w", strings.Join(endpoints, ","), err)
			}
			defer cli.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			if advertise == "" {
				if advertise, err = netaddr.Advertise(lis.Addr().String()); err != nil {
					lis.Close()
					return err
				}
			}
			log.Info("coordinator serving", "addr", lis.Addr().String(), "advertise", advertise, "data_dir", dataDir, "etcd", strings.Join(endpoints, ","))
			ccfg := coordinator.Config{DataDir: filepath.Join(dataDir, "coordinator"), Etcd: cli, Logger: log,
				StallTimeout: stall, Advertise: advertise, LeaderTTL: leaderTTL, TLS: tlsCfg, Tokens: tokens, Issuer: issuer, JoinToken: joinToken}
			if metricsListen == "" {
				return coordinator.Serve(ctx, lis, ccfg)
			}
			reg := metrics.NewRegistry()
			ccfg.Metrics = coordinator.NewMetrics(reg)
			return metrics.ServeWith(ctx, metricsListen, reg, log, func(ctx context.Context) error { return coordinator.Serve(ctx, lis, ccfg) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":7070", "gRPC address for the job and worker APIs")
	f.StringVar(&dataDir, "data-dir", "ringtrain-data", "directory for jobs, checkpoints, models and the embedded etcd")
	f.StringVar(&etcdEndpoints, "etcd", "", "external etcd endpoints, comma-separated (default: start an embedded etcd)")
	f.StringVar(&etcdListen, "etcd-listen", "http://127.0.0.1:2379", "client URL of the embedded etcd (workers connect here); served over https with TLS")
	f.StringVar(&etcdPeer, "etcd-peer-listen", "http://127.0.0.1:2380", "peer URL of the embedded etcd")
	f.DurationVar(&stall, "stall-timeout", 2*time.Minute, "fail an epoch attempt that makes no progress for this long")
	f.StringVar(&advertise, "advertise", "", "address this coordinator is reached at, published while it leads (default: this host's IP and the listen port)")
	f.StringVar(&tokenFile, "token-file", "", "job API bearer tokens, one `ROLE TOKEN` per line (roles admin and read): calls without one are refused")
	tlsFlags.Register(f)
	f.StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (default: off)")
	f.StringVar(&caKeyFile, "tls-ca-key", "", "the CA's key: with --join-token-file, issue certificates to workers that present the join token (worker --join-token-file)")
	f.StringVar(&joinTokenFile, "join-token-file", "", "the cluster's join token (certs init writes join.token), with --tls-ca-key")
	f.DurationVar(&leaderTTL, "leader-ttl", 5*time.Second, "lease of the leadership among coordinators sharing an etcd: how soon a standby takes over from a dead leader")
	return cmd
}

// loadIssuer reads what issuing workers' certificates takes: the CA's key
// (with --tls-ca's certificate) and the join token.
func loadIssuer(f secure.Flags, caKeyFile, joinTokenFile string) (*certs.Authority, string, error) {
	if caKeyFile == "" || joinTokenFile == "" || f.CA == "" {
		return nil, "", errors.New("issuing workers' certificates needs --tls-ca, --tls-ca-key and --join-token-file")
	}
	ca, err := certs.LoadAuthority(f.CA, caKeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("--tls-ca-key: %w", err)
	}
	b, err := os.ReadFile(joinTokenFile)
	if err != nil {
		return nil, "", fmt.Errorf("--join-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return nil, "", fmt.Errorf("--join-token-file %s: a token of %d characters: want at least 16", joinTokenFile, len(tok))
	}
	return ca, tok, nil
}
