package coordinator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/internal/secure"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Config configures a Server.
type Config struct {
	// DataDir holds each job's spec, checkpoints and model.
	DataDir string
	Etcd    *clientv3.Client
	Logger  *slog.Logger
	// StallTimeout fails an epoch attempt that reports neither progress nor
	// an outcome for this long (default 2 minutes).
	StallTimeout time.Duration
	// MaxAttempts bounds how often one epoch is retried before the job
	// fails (default 10).
	MaxAttempts int
	// Advertise is the address this coordinator is reached at, published
	// while it leads (for operators: etcdctl get --prefix
	// /ringtrain/coordinator/leader/).
	Advertise string
	// LeaderTTL is the lease of its leadership: how long a standby waits to
	// take over from a leader that died (default 5 s).
	LeaderTTL time.Duration
	// TLS, when set, serves both APIs over mutual TLS: the worker API only
	// to workers' certificates, each speaking only for itself.
	TLS *secure.Config
	// Tokens, when set, are the job API's bearer tokens: every job API call
	// needs one, and submitting, cancelling and downloading need an admin's.
	Tokens *Tokens
	// Issuer and JoinToken, when both set, let a worker without a
	// certificate be issued one (JoinService) by presenting JoinToken.
	Issuer    *certs.Authority
	JoinToken string
	// Metrics records what the coordinator does (default: metrics
	// registered nowhere).
	Metrics *Metrics
}

// Server is the coordinator service.
type Server struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	jobs   map[string]*job
	queued []*job // waiting to run, oldest first
	// maxQueued bounds the jobs a submission may queue behind; recovered
	// jobs are queued whatever their number.
	maxQueued int
	ready     chan struct{} // holds a token when queued may have grown
	gen       uint64        // the last ring generation handed out

	// fence holds every etcd write to this coordinator's leadership, and
	// abdicate ends its leading when a write finds it lost (see write):
	// both set once elected, before Recover and before any call is served;
	// neither for a server that does not campaign.
	fence    []clientv3.Cmp
	abdicate context.CancelFunc
	// admitting counts submissions between their check of the queue's
	// room and their queueing; guarded by mu.
	admitting int

	ringtrainv1.UnimplementedJobServiceServer
	ringtrainv1.UnimplementedWorkerServiceServer
	ringtrainv1.UnimplementedJoinServiceServer
}

// New returns a server; Run starts its scheduler.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("coordinator: no data directory")
	}
	if cfg.Etcd == nil {
		return nil, errors.New("coordinator: no etcd client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.LeaderTTL == 0 {
		cfg.LeaderTTL = 5 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("coordinator: data directory: %w", err)
	}
	return newServer(cfg, 1024), nil
}

func newServer(cfg Config, maxQueued int) *Server {
	return &Server{cfg: cfg, log: cfg.Logger, jobs: map[string]*job{}, maxQueued: maxQueued, ready: make(chan struct{}, 1)}
}

// Register registers the job, worker and join services on g.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	ringtrainv1.RegisterJobServiceServer(g, s)
	ringtrainv1.RegisterWorkerServiceServer(g, s)
	ringtrainv1.RegisterJoinServiceServer(g, s)
}

// Run runs queued jobs one at a time until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if j := s.next(); j != nil {
			s.runJob(ctx, j)
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.ready:
		}
	}
	return nil
}

// next takes the oldest queued job, or returns nil.
func (s *Server) next() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queued) == 0 {
		return nil
	}
	j := s.queued[0]
	s.queued[0] = nil
	s.queued = s.queued[1:]
	return j
}

// enqueueLocked lists j and queues it behind the others; s.mu is held.
func (s *Server) enqueueLocked(j *job) {
	s.jobs[j.id] = j
	s.queued = append(s.queued, j)
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Server) job(id string) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "job %s not found", id)
	}
	return j, nil
}

// SubmitJob validates and queues a job.
func (s *Server) SubmitJob(ctx context.Context, req *ringtrainv1.SubmitJobRequest) (*ringtrainv1.Job, error) {
	spec, err := jobspec.Parse(req.GetSpec())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "job spec: %v", err)
	}
	if req.GetMinWorkers() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "min_workers: %d, want >= 0", req.GetMinWorkers())
	}
	id, dir, err := s.newJobDir(spec.Name)
	if err != nil {
		return nil, err
	}
	j := newJob(id, spec, req.GetSpec(), dir, max(req.GetMinWorkers(), 1), time.Now().UnixMilli())
	refuse := func(err error) (*ringtrainv1.Job, error) {
		if rerr := os.RemoveAll(dir); rerr != nil {
			s.log.Warn("remove directory of refused job", "job", id, "error", rerr)
		}
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), req.GetSpec(), 0o644); err != nil {
		return refuse(status.Errorf(codes.Internal, "save job spec: %v", err))
	}
	s.mu.Lock()
	full := len(s.queued)+s.admitting >= s.maxQueued
	if !full {
		s.admitting++ // a place in the queue, held across the etcd write
	}
	s.mu.Unlock()
	if full {
		return refuse(status.Errorf(codes.ResourceExhausted, "job queue is full: %d jobs are waiting", s.maxQueued))
	}
	// The record is in etcd before the job is queued: a job is accepted
	// only once a coordinator after this one would find it, and no later
	// state of it can be overwritten by this first one. The write outlives
	// the caller's deadline, so that a refusal is known to have left no
	// record, or its removal is tried.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitTimeout)
	defer cancel()
	if err := s.recordState(wctx, j); err != nil {
		if derr := s.write(wctx, clientv3.OpDelete(etcdkeys.JobState(id))); derr != nil {
			s.log.Warn("remove the record of a refused job", "job", id, "error", derr)
		}
		s.mu.Lock()
		s.admitting--
		s.mu.Unlock()
		return refuse(status.Errorf(codes.Unavailable, "record the job: %v", err))
	}
	// A job is listed once it is queued, and under the same lock, so that
	// its workers find it as soon as it runs.
	s.mu.Lock()
	s.admitting--
	s.enqueueLocked(j)
	s.mu.Unlock()
	s.cfg.Metrics.submitted.Inc()
	s.log.Info("job submitted", "job", id, "name", spec.Name)
	return j.snapshot(), nil
}

// submitTimeout bounds the etcd write that accepts a job.
const submitTimeout = 10 * time.Second

// jobIDRand is where job IDs' random suffixes come from.
var jobIDRand io.Reader = rand.Reader

// newJobDir makes the directory of a new job named name and returns its ID:
// the name and a random suffix, drawn again while it names a job that
// exists, listed here or with a directory (another coordinator's, or one
// whose record is lost).
func (s *Server) newJobDir(name string) (id, dir string, err error) {
	for range 16 {
		var suffix [3]byte
		if _, err := io.ReadFull(jobIDRand, suffix[:]); err != nil {
			return "", "", status.Errorf(codes.Internal, "job id: %v", err)
		}
		id = fmt.Sprintf("%s-%s", idSafe(name), hex.EncodeToString(suffix[:]))
		s.mu.Lock()
		_, listed := s.jobs[id]
		s.mu.Unlock()
		if listed {
			continue
		}
		dir = filepath.Join(s.cfg.DataDir, "jobs", id)
		err = os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", "", status.Errorf(codes.Internal, "job directory: %v", err)
		}
		return id, dir, nil
	}
	return "", "", status.Errorf(codes.ResourceExhausted, "no free job id for %q after 16 draws", name)
}

// idSafe keeps the characters of name that are safe in an etcd key and a
// file name.
func idSafe(name string) string {
	b := []byte(name)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			out = append(out, c)
		}
	}
	if len(out) == 0 || len(out) > 64 {
		return "job"
	}
	return string(out)
}

// ListJobs lists every job, oldest first.
func (s *Server) ListJobs(context.Context, *ringtrainv1.ListJobsRequest) (*ringtrainv1.ListJobsResponse, error) {
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	resp := &ringtrainv1.ListJobsResponse{}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, j.snapshot())
	}
	sort.Slice(resp.Jobs, func(a, b int) bool {
		if resp.Jobs[a].CreatedUnixMs != resp.Jobs[b].CreatedUnixMs {
			return resp.Jobs[a].CreatedUnixMs < resp.Jobs[b].CreatedUnixMs
		}
		return resp.Jobs[a].Id < resp.Jobs[b].Id
	})
	return resp, nil
}

// GetJob returns one job's state.
func (s *Server) GetJob(_ context.Context, req *ringtrainv1.GetJobRequest) (*ringtrainv1.Job, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	return j.snapshot(), nil
}

// WatchJob streams the job's events until it ends.
func (s *Server) WatchJob(req *ringtrainv1.WatchJobRequest, stream ringtrainv1.JobService_WatchJobServer) error {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return err
	}
	ch, now := j.subscribe()
	defer j.unsubscribe(ch)
	if err := stream.Send(&ringtrainv1.JobEvent{Job: now}); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case ev, ok := <-ch:
			if !ok {
				last := j.snapshot()
				if !final(last.State) {
					return status.Error(codes.ResourceExhausted, "watcher fell behind; watch again")
				}
				return stream.Send(&ringtrainv1.JobEvent{Job: last})
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// CancelJob stops a queued or running job.
func (s *Server) CancelJob(ctx context.Context, req *ringtrainv1.CancelJobRequest) (*ringtrainv1.Job, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	j.canceled = true
	cancel := j.cancel
	queued := j.pb.State == ringtrainv1.JobState_JOB_STATE_QUEUED
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if queued {
		j.update(func(pb *ringtrainv1.Job) {
			pb.State, pb.Stopped = ringtrainv1.JobState_JOB_STATE_CANCELLED, "cancelled"
		}, nil)
		s.putState(ctx, j)
	}
	s.log.Info("job cancel requested", "job", j.id)
	return j.snapshot(), nil
}

// GetModel streams the job's saved model.
func (s *Server) GetModel(req *ringtrainv1.GetModelRequest, stream ringtrainv1.JobService_GetModelServer) error {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return err
	}
	j.mu.Lock()
	path := j.model
	j.mu.Unlock()
	if path == "" {
		return status.Errorf(codes.FailedPrecondition, "job %s has no model yet", j.id)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return status.Errorf(codes.Internal, "read model: %v", err)
	}
	return sendChunks(stream.Send, b)
}

// chunkBytes keeps every message well under gRPC's 4 MiB default limit.
const chunkBytes = 1 << 20

// sendChunks sends parts, one after the other, as a stream of chunks, the
// first of which says the total.
func sendChunks(send func(*ringtrainv1.DataChunk) error, parts ...[]byte) error {
	var total int64
	for _, b := range parts {
		total += int64(len(b))
	}
	for _, b := range parts {
		for len(b) > 0 {
			n := min(len(b), chunkBytes)
			if err := send(&ringtrainv1.DataChunk{Data: b[:n], Total: total}); err != nil {
				return err
			}
			b, total = b[n:], 0
		}
	}
	return nil
}

// ListWorkers lists the live workers registered in etcd.
func (s *Server) ListWorkers(ctx context.Context, _ *ringtrainv1.ListWorkersRequest) (*ringtrainv1.ListWorkersResponse, error) {
	ms, _, err := membership.List(ctx, s.cfg.Etcd)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read membership from etcd: %v", err)
	}
	resp := &ringtrainv1.ListWorkersResponse{}
	for _, m := range ms {
		resp.Workers = append(resp.Workers, &ringtrainv1.Worker{Id: m.ID, Addr: m.Addr})
	}
	return resp, nil
}

// GetJobHistory returns the job's history as history.json has it.
func (s *Server) GetJobHistory(_ context.Context, req *ringtrainv1.GetJobHistoryRequest) (*ringtrainv1.GetJobHistoryResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	j.mu.Lock()
	err = j.history.WriteJSON(&b)
	j.mu.Unlock()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "history: %v", err)
	}
	return &ringtrainv1.GetJobHistoryResponse{Json: b.Bytes()}, nil
}
