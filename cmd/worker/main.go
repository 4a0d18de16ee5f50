package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/blas"
	"github.com/ringtrain/ringtrain/internal/coordconn"
	"github.com/ringtrain/ringtrain/internal/healthcheck"
	"github.com/ringtrain/ringtrain/internal/logflag"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/internal/metrics"
	"github.com/ringtrain/ringtrain/internal/netaddr"
	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/etcdlog"
	"github.com/ringtrain/ringtrain/pkg/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRoot() *cobra.Command {
	var (
		coord, etcd, listen, advertise, id string
		cpuProfile                         string
		ringListen, ringAdvertise          string
		ringTransport                      worker.RingTransport
		ringTimeout, ttl                   time.Duration
		threads, bucketBytes               int
		verbose                            bool
		tlsFlags                           secure.Flags
		joinTokenFile, metricsListen       string
		logFormat                          string
	)
	cmd := &cobra.Command{
		Use:           "worker",
		Short:         "Join a ringtrain cluster and train the epochs planned for this worker",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFlags(threads, bucketBytes, ringTimeout, ttl, ringAdvertise); err != nil {
				return err
			}
			log, err := logflag.New(cmd.ErrOrStderr(), logFormat, verbose)
			if err != nil {
				return err
			}
			slog.SetDefault(log)
			if ringTransport == worker.GRPC && (ringListen != "" || ringAdvertise != "") {
				// The compose file passes them whatever the transport.
				log.Info("--ring-listen and --ring-advertise are unused with --ring-transport grpc: the ring's data goes over --listen")
			}
			blas.SetThreads(threads)
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer func() {
					pprof.StopCPUProfile()
					f.Close()
				}()
			}
			var tlsCfg *secure.Config
			if joinTokenFile != "" && tlsFlags.Cert == "" {
				// No certificate: the coordinator issues one.
				if id == "" {
					id = defaultID()
				}
				if tlsCfg, err = join(cmd.Context(), coord, &tlsFlags, joinTokenFile, id, log); err != nil {
					return err
				}
			} else if tlsCfg, err = tlsFlags.Load(log); err != nil {
				return err
			}
			switch {
			case id == "" && tlsCfg != nil:
				id = tlsCfg.Name() // a worker is who its certificate says
			case id == "":
				id = defaultID()
			}
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
			if ringListen == "" && ringTransport != worker.GRPC {
				if ringListen, err = worker.NextPort(lis.Addr().String()); err != nil {
					lis.Close()
					return fmt.Errorf("--ring-listen: %w", err)
				}
			}
			cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(etcd, ","), DialTimeout: 5 * time.Second, Logger: etcdlog.New(log), TLS: tlsCfg.Client()})
			if err != nil {
				lis.Close()
				return fmt.Errorf("etcd client for %s: %w", etcd, err)
			}
			defer cli.Close()
			conn, err := coordconn.Dial(coord, tlsCfg.DialOption())
			if err != nil {
				lis.Close()
				return fmt.Errorf("coordinator client for %s: %w", coord, err)
			}
			defer conn.Close()
			log.Info("worker starting", "id", id, "listen", lis.Addr().String(), "advertise", advertise,
				"ring_transport", ringTransport, "ring_listen", ringListen, "coordinator", coord, "etcd", etcd, "blas", blas.Backend(), "blas_core", blas.CoreType(), "blas_threads", threads)
			wcfg := worker.Config{ID: id, Advertise: advertise, Etcd: cli, Coordinator: conn,
				RingTransport: ringTransport, RingListen: ringListen, RingAdvertise: ringAdvertise, BucketBytes: worker.BucketFlag(bucketBytes),
				Logger: log, RingTimeout: ringTimeout, TTL: ttl, TLS: tlsCfg}
			if metricsListen == "" {
				return worker.Serve(cmd.Context(), lis, wcfg)
			}
			reg := metrics.NewRegistry()
			wcfg.Metrics = worker.NewMetrics(reg)
			return metrics.ServeWith(cmd.Context(), metricsListen, reg, log, func(ctx context.Context) error { return worker.Serve(ctx, lis, wcfg) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&coord, "coordinator", env("RINGTRAIN_COORDINATOR", "localhost:7070"), "coordinator gRPC address; several, comma-separated, for a coordinator and its standbys (env RINGTRAIN_COORDINATOR)")
	f.StringVar(&etcd, "etcd", env("RINGTRAIN_ETCD", "localhost:2379"), "etcd endpoints, comma-separated (env RINGTRAIN_ETCD)")
	f.StringVar(&listen, "listen", ":7071", "address of this worker's gRPC server: the ring's peer service")
	f.StringVar(&advertise, "advertise", "", "address peers dial to reach this worker (default: this host's IP and the listen port)")
	f.Var(&ringTransport, "ring-transport", "data plane of the all-reduce ring: tcp, or grpc where only the gRPC port is open (every worker must use the same)")
	f.StringVar(&ringListen, "ring-listen", "", "address of the TCP data plane (default: the --listen port + 1)")
	f.StringVar(&ringAdvertise, "ring-advertise", "", "address peers connect to for ring data (default: the --advertise host and the --ring-listen port)")
	f.StringVar(&id, "id", "", "worker ID, unique in the cluster (default: the common name of the --tls-cert; without TLS, hostname and a random suffix)")
	f.IntVar(&bucketBytes, "bucket-bytes", worker.DefaultBucketBytes, "least bytes of the gradient buckets averaged while backpropagation goes on; 0: one all-reduce after it (every worker must use the same)")
	f.DurationVar(&ringTimeout, "ring-timeout", 5*time.Second, "how long an all-reduce waits for a silent peer")
	f.DurationVar(&ttl, "ttl", 5*time.Second, "lease of the worker's registration: a dead worker disappears after it")
	f.IntVar(&threads, "threads", runtime.NumCPU(), "BLAS threads (OpenBLAS build)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log debug detail")
	f.StringVar(&logFormat, "log-format", "text", "logs as "+logflag.Formats+" (one object a line, for log shippers)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of this worker to the file until it exits")
	tlsFlags.Register(f)
	f.StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (default: off)")
	f.StringVar(&joinTokenFile, "join-token-file", os.Getenv("RINGTRAIN_JOIN_TOKEN_FILE"), "without --tls-cert: ask the coordinator (verified by --tls-ca) to issue this worker's certificate, presenting the cluster's join token from this file (env RINGTRAIN_JOIN_TOKEN_FILE)")
	cmd.AddCommand(healthcheck.Command("worker", "localhost:7071"))
	return cmd
}

// checkFlags refuses values the worker would otherwise change or ignore
// without a word.
func checkFlags(threads, bucketBytes int, ringTimeout, ttl time.Duration, ringAdvertise string) error {
	var errs []error
	if threads < 1 {
		errs = append(errs, fmt.Errorf("--threads: %d, want at least 1", threads))
	}
	if bucketBytes < 0 {
		errs = append(errs, fmt.Errorf("--bucket-bytes: %d, want 0 (one all-reduce after backward) or more", bucketBytes))
	}
	if ringTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--ring-timeout: %v, want more than 0", ringTimeout))
	}
	if ttl < membership.MinTTL {
		errs = append(errs, fmt.Errorf("--ttl: %v, want at least %v: a shorter lease loses live workers to one slow renewal", ttl, membership.MinTTL))
	}
	if ringAdvertise != "" {
		if _, port, err := net.SplitHostPort(ringAdvertise); err != nil {
			errs = append(errs, fmt.Errorf("--ring-advertise: %w", err))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("--ring-advertise: port %q is not a port number", port))
		}
	}
	return errors.Join(errs...)
}

// join has the coordinator at coord issue this worker's certificate.
func join(ctx context.Context, coord string, f *secure.Flags, tokenFile, id string, log *slog.Logger) (*secure.Config, error) {
	if f.CA == "" || f.Insecure {
		return nil, errors.New("--join-token-file needs --tls-ca, to know the coordinator by, and no --insecure")
	}
	anon, err := f.LoadClient(log)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--join-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return nil, fmt.Errorf("--join-token-file %s is empty", tokenFile)
	}
	conn, err := coordconn.Dial(coord, anon.DialOption())
	if err != nil {
		return nil, fmt.Errorf("coordinator client for %s: %w", coord, err)
	}
	defer conn.Close()
	cfg, err := worker.Join(ctx, conn, anon, token, id, log)
	if err != nil {
		return nil, err
	}
	log.Info("joined: the coordinator issued this worker's certificate", "id", id)
	return cfg, nil
}

func defaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return host + "-" + hex.EncodeToString(b[:])
}
