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
	return sendChunks(b, stream.Send)
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
	return sendChunks(b, stream.Send)
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
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	res := first.GetResult()
	if res == nil {
		return status.Error(codes.InvalidArgument, "first message carries no result")
	}
	if err := callerIs(stream.Context(), res.GetWorkerId()); err != nil {
		return err
	}
	j, err := s.job(res.GetJobId())
	if err != nil {
		return err
	}
	ckpt := append([]byte(nil), first.GetCheckpoint()...)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		ckpt = append(ckpt, m.GetCheckpoint()...)
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
