package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ringtrain/ringtrain/pkg/coordinator"
	"github.com/ringtrain/ringtrain/pkg/embedetcd"
	"github.com/ringtrain/ringtrain/pkg/worker"
)

// Config configures a local cluster.
type Config struct {
	// Dir holds etcd's data and the coordinator's jobs.
	Dir     string
	Workers int
	Logger  *slog.Logger
	// Fast selects etcd settings for tests (no fsync, short ticks).
	Fast bool
	// RingTimeout and StallTimeout are passed to workers and coordinator.
	RingTimeout  time.Duration
	StallTimeout time.Duration
	// WorkerTTL is the workers' lease (default the membership package's).
	WorkerTTL time.Duration
	// RingTransport is the workers' data plane (default TCP).
	RingTransport worker.RingTransport
	// BucketBytes is the workers' all-reduce bucket size (see
	// worker.Config.BucketBytes: 0 is the default, negative one all-reduce
	// after backward).
	BucketBytes int
	// WorkerDialOptions are added to the workers' connection to the
	// coordinator (tests use them to watch or slow its calls).
	WorkerDialOptions []grpc.DialOption
	// CoordinatorMetrics, and WorkerMetrics for each worker's ID, record
	// what they do (default: metrics registered nowhere). A worker's must
	// be its own: its metrics are of one process's worker.
	CoordinatorMetrics *coordinator.Metrics
	WorkerMetrics      func(id string) *worker.Metrics
}

// Cluster is a running local cluster.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	etcd    *embedetcd.Server
	cli     *clientv3.Client
	coordLn net.Listener
	// coordStop stops the coordinator; coordDone is closed when it has.
	coordStop context.CancelFunc
	coordDone chan struct{}
	conn      *grpc.ClientConn
	cancel    context.CancelFunc
	ctx       context.Context
	wg        sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*member
	next    int
	errs    []error
}

type member struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts etcd, the coordinator and cfg.Workers workers.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, workers: map[string]*member{}}
	var err error
	c.etcd, err = embedetcd.Start(ctx, embedetcd.Config{Dir: filepath.Join(cfg.Dir, "etcd"), ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0", Fast: cfg.Fast, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if c.cli, err = c.etcd.NewClient(); err != nil {
		c.Close()
		return nil, err
	}
	if c.coordLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		c.Close()
		return nil, fmt.Errorf("listen for coordinator: %w", err)
	}
	c.startCoordinator()
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.WorkerDialOptions...)
	if c.conn, err = grpc.NewClient(c.CoordinatorAddr(), dial...); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to coordinator: %w", err)
	}
	for range cfg.Workers {
		if _, err := c.AddWorker(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// startCoordinator serves the coordinator on c.coordLn.
func (c *Cluster) startCoordinator() {
	ctx, stop := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.coordStop, c.coordDone = stop, done
	ccfg := coordinator.Config{DataDir: filepath.Join(c.cfg.Dir, "coordinator"), Etcd: c.cli, Logger: c.log, StallTimeout: c.cfg.StallTimeout,
		Metrics: c.cfg.CoordinatorMetrics}
	lis := c.coordLn
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(done)
		if err := coordinator.Serve(ctx, lis, ccfg); err != nil {
			c.record(err)
		}
	}()
}

// RestartCoordinator stops the coordinator and starts another on the same
// address, etcd and data directory, as an operator restarts one; the
// workers go on. The new one resumes the jobs the first had. between, if
// not nil, is called once the first has stopped and before the next
// starts: to change the data directory as a failure would.
func (c *Cluster) RestartCoordinator(between func()) error {
	addr := c.CoordinatorAddr()
	c.coordStop()
	<-c.coordDone
	if between != nil {
		between()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the restarted coordinator: %w", err)
	}
	c.coordLn = lis
	c.startCoordinator()
	return nil
}

func (c *Cluster) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

// CoordinatorAddr is the coordinator's gRPC address.
func (c *Cluster) CoordinatorAddr() string { return c.coordLn.Addr().String() }

// Conn is a client connection to the coordinator, closed by Close.
func (c *Cluster) Conn() *grpc.ClientConn { return c.conn }

// Etcd is a client of the cluster's etcd, closed by Close.
func (c *Cluster) Etcd() *clientv3.Client { return c.cli }

// EtcdEndpoints are the embedded etcd's client endpoints.
func (c *Cluster) EtcdEndpoints() []string { return c.etcd.Endpoints() }

// AddWorker starts one more worker and returns its ID.
func (c *Cluster) AddWorker() (string, error) {
	c.mu.Lock()
	c.next++
	id := fmt.Sprintf("worker-%d", c.next)
	c.mu.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen for %s: %w", id, err)
	}
	cli, err := c.etcd.NewClient()
	if err != nil {
		ln.Close()
		return "", err
	}
	wctx, cancel := context.WithCancel(c.ctx)
	m := &member{cancel: cancel, done: make(chan struct{})}
	cfg := worker.Config{ID: id, Advertise: ln.Addr().String(), Etcd: cli, Coordinator: c.conn,
		Logger: c.log, RingTimeout: c.cfg.RingTimeout, TTL: c.cfg.WorkerTTL, RingTransport: c.cfg.RingTransport, BucketBytes: c.cfg.BucketBytes}
	if c.cfg.WorkerMetrics != nil {
		cfg.Metrics = c.cfg.WorkerMetrics(id)
	}
	c.mu.Lock()
	c.workers[id] = m
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(m.done)
		defer cli.Close()
		if err := worker.Serve(wctx, ln, cfg); err != nil {
			c.record(fmt.Errorf("%s: %w", id, err))
		}
	}()
	return id, nil
}

// StopWorker stops worker id and waits until it is gone.
func (c *Cluster) StopWorker(id string) error {
	c.mu.Lock()
	m, ok := c.workers[id]
	delete(c.workers, id)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("no worker %s", id)
	}
	m.cancel()
	<-m.done
	return nil
}

// Workers returns the IDs of the running workers.
func (c *Cluster) Workers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.workers))
	for id := range c.workers {
		ids = append(ids, id)
	}
	return ids
}

// Close stops everything and returns the errors its components ended with.
func (c *Cluster) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	if c.conn != nil {
		c.conn.Close()
	}
	if c.cli != nil {
		c.cli.Close()
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}
