package coordinator

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// GetJobSpec returns the job's spec as submitted.
func (s *Server) GetJobSpec(_ context.Context, req *ringtrainv1.GetJobSpecRequest) (*ringtrainv1.GetJobSpecResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return &ringtrainv1.GetJobSpecResponse{Spec: j.yaml, DatasetSha256: j.dataSum}, nil
}

// GetDataset streams the job's encoded training set.
func (s *Server) GetDataset(req *ringtrainv1.GetDatasetRequest, stream ringtrainv1.WorkerService_GetDatasetServer) error {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return err
	}
	j.mu.Lock()
	b := j.dataset
	j.mu.Unlock()
	if b == nil {
		return status.Errorf(codes.FailedPrecondition, "job %s has not loaded its data", j.id)
	}
	return sendChunks(stream.Send, b...)
}

// GetCheckpoint streams the checkpoint an epoch starts from.
func (s *Server) GetCheckpoint(req *ringtrainv1.GetCheckpointRequest, stream ringtrainv1.WorkerService_GetCheckpointServer) error {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return err
	}
	j.mu.Lock()
	b, ep := j.ckpt, j.ckptEp
	j.mu.Unlock()
	if b == nil || ep != int(req.GetEpoch()) {
		return status.Errorf(codes.FailedPrecondition, "job %s: checkpoint after %d epochs is not available (have %d)", j.id, req.GetEpoch(), ep)
	}
	return sendChunks(stream.Send, b)
}

// ReportProgress forwards rank 0's step progress to watchers.
func (s *Server) ReportProgress(ctx context.Context, req *ringtrainv1.ReportProgressRequest) (*ringtrainv1.ReportProgressResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if err := j.deliver(ctx, report{generation: req.GetGeneration(), progress: req.GetProgress()}); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return &ringtrainv1.ReportProgressResponse{}, nil
}

// CompleteEpoch receives rank 0's result and checkpoint.
func (s *Server) CompleteEpoch(stream ringtrainv1.WorkerService_CompleteEpochServer) error {
	j, res, ckpt, err := s.receiveCheckpoint(stream)
	if err != nil {
		return err
	}
	r := report{generation: res.GetGeneration(), worker: res.GetWorkerId(), result: res, checkpoint: ckpt}
	if err := j.deliver(stream.Context(), r); err != nil {
		return status.FromContextError(err).Err()
	}
	return stream.SendAndClose(&ringtrainv1.CompleteEpochResponse{})
}

// ReportFailure records that an epoch attempt failed on a worker.
func (s *Server) ReportFailure(ctx context.Context, req *ringtrainv1.ReportFailureRequest) (*ringtrainv1.ReportFailureResponse, error) {
	if err := callerIs(ctx, req.GetWorkerId()); err != nil {
		return nil, err
	}
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	s.log.Warn("worker reports failed epoch", "job", j.id, "epoch", req.GetEpoch()+1, "generation", req.GetGeneration(),
		"worker", req.GetWorkerId(), "culprit", req.GetCulprit(), "error", req.GetError())
	r := report{generation: req.GetGeneration(), worker: req.GetWorkerId(), err: req.GetError(), culprit: req.GetCulprit(), cause: req.GetCause()}
	if err := j.deliver(ctx, r); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return &ringtrainv1.ReportFailureResponse{}, nil
}

// checkpointStream is what CompleteEpoch's and ProvideCheckpoint's streams
// have in common.
type checkpointStream interface {
	Recv() (*ringtrainv1.CompleteEpochRequest, error)
	Context() context.Context
}

// receiveCheckpoint reads a worker's result and checkpoint from stream:
// the first message names the job and the worker, which must be the
// caller; the checkpoint's bytes are those of all the messages.
func (s *Server) receiveCheckpoint(stream checkpointStream) (*job, *ringtrainv1.EpochResult, []byte, error) {
	first, err := stream.Recv()
	if err != nil {
		return nil, nil, nil, err
	}
	res := first.GetResult()
	if res == nil {
		return nil, nil, nil, status.Error(codes.InvalidArgument, "first message carries no result")
	}
	if err := callerIs(stream.Context(), res.GetWorkerId()); err != nil {
		return nil, nil, nil, err
	}
	j, err := s.job(res.GetJobId())
	if err != nil {
		return nil, nil, nil, err
	}
	ckpt := append([]byte(nil), first.GetCheckpoint()...)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return j, res, ckpt, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		ckpt = append(ckpt, m.GetCheckpoint()...)
	}
}

// ProvideCheckpoint takes from a worker the checkpoint a restarted
// coordinator did not find, once it has checked that it is the state the
// job's record names. The first worker's wins.
func (s *Server) ProvideCheckpoint(stream ringtrainv1.WorkerService_ProvideCheckpointServer) error {
	j, res, b, err := s.receiveCheckpoint(stream)
	if err != nil {
		return err
	}
	j.mu.Lock()
	w := j.wanted
	j.mu.Unlock()
	if w == nil {
		return status.Errorf(codes.FailedPrecondition, "job %s wants no checkpoint", j.id)
	}
	if err := verifyCheckpoint(j.spec, b, w.epochs, w.sum); err != nil {
		return status.Errorf(codes.InvalidArgument, "checkpoint from %s: %v", res.GetWorkerId(), err)
	}
	select {
	case w.provided <- b:
	default: // another worker's came first
	}
	return stream.SendAndClose(&ringtrainv1.CompleteEpochResponse{})
}
