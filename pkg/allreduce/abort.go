package allreduce

import ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"

// AbortFrame sets f to the abort frame that a carries, for transports that
// carry aborts as the protobuf message (AbortMessage makes it).
func AbortFrame(a *ringtrainv1.Abort, f *Frame) {
	*f = Frame{Kind: KindAbort, Job: a.Job, Generation: a.Generation, Call: a.CompletedCalls, Abort: &PeerError{
		Rank:     int(a.CulpritRank),
		Reporter: int(a.ReporterRank),
		Err:      newRemoteError(int32(a.Reason), a.Detail),
	}}
}

// AbortMessage returns the abort frame f as its protobuf message: its
// culprit, reporter, cause (one of the package's sentinel errors, and the
// text) and completed calls.
func AbortMessage(f *Frame) *ringtrainv1.Abort {
	return &ringtrainv1.Abort{
		Job:            f.Job,
		Generation:     f.Generation,
		CulpritRank:    uint32(f.Abort.Rank),
		ReporterRank:   uint32(f.Abort.Reporter),
		Reason:         ringtrainv1.AbortReason(reasonOf(f.Abort.Err)),
		Detail:         f.Abort.Err.Error(),
		CompletedCalls: f.Call,
	}
}
