package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/ringtrain/ringtrain/pkg/data"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Config configures a Worker.
type Config struct {
	// ID names the worker in etcd; unique in the cluster.
	ID string
	// Advertise is the address of this worker's ring peer service as other
	// workers dial it.
	Advertise   string
	Etcd        *clientv3.Client
	Coordinator grpc.ClientConnInterface
	// Transport carries this worker's rings; its PeerService must be
	// registered on the gRPC server listening at Advertise. Serve makes it
	// from RingTransport, RingListen and RingAdvertise.
	Transport allreduce.Transport
	// RingTransport is the data plane Serve makes (default TCP).
	RingTransport RingTransport
	// RingListen is where the TCP data plane listens (default: an
	// ephemeral port on the host the gRPC server listens on), and
	// RingAdvertise the address predecessors are told to connect to
	// (default: Advertise's host with RingListen's port).
	RingListen, RingAdvertise string
	Logger                    *slog.Logger
	// RingTimeout bounds how long an all-reduce waits for a silent peer
	// (default: the allreduce package's).
	RingTimeout time.Duration
	// BucketBytes is the least size of the gradient buckets a step
	// all-reduces while backward is still running (0: DefaultBucketBytes);
	// a negative size all-reduces the whole gradient in one call after
	// backward. Every member of a ring must use the same.
	BucketBytes int
	// TTL is the lease of the worker's registration (default 5 s).
	TTL time.Duration
	// TLS, when set, runs the ring's links over mutual TLS (the peer
	// service and the data plane), each neighbour checked to be the worker
	// the plan names; its certificate must name ID. The Etcd and
	// Coordinator clients carry their own credentials.
	TLS *secure.Config
	// Metrics records what the worker does (default: metrics registered
	// nowhere).
	Metrics *Metrics
	// Health, when set, hears whether the worker holds its registration:
	// Serve reports it to gRPC health checks.
	Health func(registered bool)
}

// ErrIdentity is returned by New when the worker's ID is not the one its
// certificate names.
var ErrIdentity = errors.New("worker: the certificate does not name this worker")

// Worker follows plans until its context ends.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	coord   ringtrainv1.WorkerServiceClient
	health  healthpb.HealthClient
	job     *jobState // the job whose data and replica are loaded
	// held are the latest checkpoints the rings this worker was in agreed
	// on; guarded by their mu (written by plans, read by the watch).
	held struct {
		mu    sync.Mutex
		ckpts []heldCheckpoint
	}
	// data is the last training set fetched and the hex SHA-256 of its
	// encoding: a later job with the same one starts without a transfer.
	data struct {
		sum string
		ds  *data.Dataset
	}
}

// New returns a worker.
func New(cfg Config) (*Worker, error) {
	if err := etcdkeys.ValidID(cfg.ID); err != nil {
		return nil, fmt.Errorf("worker id: %w", err)
	}
	if cfg.TLS != nil && (cfg.TLS.Name() != cfg.ID || cfg.TLS.Role() != secure.RoleWorker) {
		return nil, fmt.Errorf("%w: worker %q with the certificate of %s %q", ErrIdentity, cfg.ID, cfg.TLS.Role(), cfg.TLS.Name())
	}
	if cfg.Advertise == "" || cfg.Etcd == nil || cfg.Coordinator == nil || cfg.Transport == nil {
		return nil, errors.New("worker: config needs Advertise, Etcd, Coordinator and Transport")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BucketBytes == 0 {
		cfg.BucketBytes = DefaultBucketBytes
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Health == nil {
		cfg.Health = func(bool) {}
	}
	return &Worker{
		metrics: cfg.Metrics,
		cfg:     cfg,
		log:     cfg.Logger.With("worker", cfg.ID),
		coord:   ringtrainv1.NewWorkerServiceClient(cfg.Coordinator),
		health:  healthpb.NewHealthClient(cfg.Coordinator),
	}, nil
}

// Run registers the worker and runs the plans that name it until ctx ends.
// A lost registration (etcd unreachable for longer than the TTL) is renewed.
func (w *Worker) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := w.waitCoordinator(ctx); err != nil {
			return nil
		}
		reg, err := w.register(ctx)
		if err != nil {
			return nil
		}
		w.log.Info("worker joined", "addr", w.cfg.Advertise)
		w.registered(true)
		err = w.follow(ctx, reg)
		w.registered(false)
		reg.Close()
		if ctx.Err() != nil {
			break
		}
		w.log.Warn("worker lost its registration; joining again", "error", err)
	}
	return nil
}

// registered records whether the worker holds its registration.
func (w *Worker) registered(yes bool) {
	v := 0.0
	if yes {
		v = 1
	}
	w.metrics.registered.Set(v)
	w.cfg.Health(yes)
}

// backoff retries op with exponential back-off until it succeeds or ctx
// ends, logging each failure with what it was trying to do.
func (w *Worker) backoff(ctx context.Context, what string, op func(context.Context) error) error {
	delay := 250 * time.Millisecond
	for {
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := op(octx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn(what+" failed; retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func (w *Worker) waitCoordinator(ctx context.Context) error {
	return w.backoff(ctx, "reach coordinator", func(ctx context.Context) error {
		for {
			resp, err := w.health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				return nil
			}
			// Starting, or standing by for the leader: ask again soon, and
			// warn only if it stays so for the whole attempt.
			select {
			case <-ctx.Done():
				return fmt.Errorf("coordinator is %s", resp.GetStatus())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func (w *Worker) register(ctx context.Context) (*membership.Registration, error) {
	var reg *membership.Registration
	err := w.backoff(ctx, "register in etcd at "+strings.Join(w.cfg.Etcd.Endpoints(), ","), func(octx context.Context) error {
		var err error
		reg, err = membership.Register(octx, w.cfg.Etcd, membership.Worker{ID: w.cfg.ID, Addr: w.cfg.Advertise}, w.cfg.TTL)
		return err
	})
	return reg, err
}

// task is a plan being run.
type task struct {
	key    string
	gen    uint64
	cancel context.CancelFunc
	done   chan struct{}
}

// follow watches the plans in etcd and runs those naming this worker, one
// at a time, until ctx ends or the registration is lost.
func (w *Worker) follow(ctx context.Context, reg *membership.Registration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		cur *task
		wg  sync.WaitGroup
	)
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer func() { stop(); wg.Wait() }()
	handle := func(key string, value []byte, deleted bool) {
		if job, ok := etcdkeys.ParseCheckpointRequest(key); ok && !deleted {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.provide(ctx, job, string(value))
			}()
			return
		}
		if _, _, ok := etcdkeys.ParsePlan(key); !ok {
			return
		}
		if deleted {
			if cur != nil && cur.key == key {
				stop()
			}
			return
		}
		p, err := epoch.Unmarshal(value)
		if err != nil {
			w.log.Warn("ignoring unreadable plan", "key", key, "error", err)
			return
		}
		if cur != nil && cur.key == key && cur.gen == p.Generation {
			return
		}
		if cur != nil && (cur.key == key || p.Rank(w.cfg.ID) >= 0) {
			stop()
		}
		if p.Rank(w.cfg.ID) < 0 {
			return
		}
		tctx, tcancel := context.WithCancel(ctx)
		t := &task{key: key, gen: p.Generation, cancel: tcancel, done: make(chan struct{})}
		cur = t
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(t.done)
			w.runPlan(tctx, reg, p)
		}()
	}

	resp, err := w.cfg.Etcd.Get(ctx, etcdkeys.JobsPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("read plans: %w", err)
	}
	for _, kv := range resp.Kvs {
		handle(string(kv.Key), kv.Value, false)
	}
	wch := w.cfg.Etcd.Watch(ctx, etcdkeys.JobsPrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	// A coordinator evicts a worker by revoking its lease; the deletion of
	// its key says so at once, where the lease's keep-alive would notice
	// only at its next renewal (a third of the TTL).
	own := w.cfg.Etcd.Watch(ctx, etcdkeys.Worker(w.cfg.ID), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithFilterPut())
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-reg.Done():
			return errors.New("registration lease lost")
		case wr, ok := <-own:
			if !ok {
				return errors.New("registration watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch registration: %w", err)
			}
			if len(wr.Events) > 0 {
				return errors.New("registration removed: evicted, or its lease expired")
			}
		case wr, ok := <-wch:
			if !ok {
				return errors.New("plan watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch plans: %w", err)
			}
			for _, ev := range wr.Events {
				handle(string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypeDelete)
			}
		}
	}
}
