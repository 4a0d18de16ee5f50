package allreduce

import (
	"errors"
	"fmt"
)

// Errors returned by a Ring. A failure caused by another member comes as a
// *PeerError wrapping one of them.
var (
	ErrTimeout      = errors.New("allreduce: peer timed out")
	ErrDisconnected = errors.New("allreduce: peer disconnected")
	ErrLeft         = errors.New("allreduce: peer left the ring")
	ErrGeneration   = errors.New("allreduce: frame from another job or generation")
	ErrMismatch     = errors.New("allreduce: members' buffers differ in length")
	ErrProtocol     = errors.New("allreduce: protocol violation")
	ErrClosed       = errors.New("allreduce: ring closed")
	ErrWeight       = errors.New("allreduce: weight must be finite and not negative")
	// ErrRefused: a neighbour refused this member's link because its
	// certificate does not name the member the ring gives its rank. It
	// blames no peer: the fault, if any, is this member's.
	ErrRefused = errors.New("allreduce: refused by a neighbour: this member's certificate is not the one the ring names")
)

// PeerError names the member that made a ring fail: the one that could not
// be reached, stalled, left, or sent what it should not have. Every member
// of a failed ring reports the same culprit when the failure has one cause.
type PeerError struct {
	Rank     int    // the member at fault
	Addr     string // its address
	Reporter int    // the member that detected the failure
	Err      error  // what happened; wraps one of the package's sentinel errors
}

func (e *PeerError) Error() string {
	if e.Reporter == e.Rank {
		return fmt.Sprintf("%v (rank %d at %s)", e.Err, e.Rank, e.Addr)
	}
	return fmt.Sprintf("%v (rank %d at %s, reported by rank %d)", e.Err, e.Rank, e.Addr, e.Reporter)
}

func (e *PeerError) Unwrap() error { return e.Err }

// LinkError is how a Transport's Connect reports that it could not link
// with rank, a neighbour of m's member, for a reason of the peer's (its
// address refused, the link refused or cut): a *PeerError naming it, whose
// Err wraps err and, unless err carries one of the package's sentinels
// already, ErrDisconnected. Whoever forms the ring then knows whom to
// blame, as for a failed call.
func LinkError(m Membership, rank int, err error) error {
	if reasonOf(err) == 0 {
		err = fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return &PeerError{Rank: rank, Addr: m.Addrs[rank], Reporter: m.Rank, Err: err}
}

// sentinels are the causes a PeerError can carry across processes, in the
// order of the wire's AbortReason values (1, 2, ...).
var sentinels = []error{ErrTimeout, ErrDisconnected, ErrLeft, ErrGeneration, ErrMismatch, ErrProtocol}

// reasonOf returns the wire reason of err: the 1-based index of the sentinel
// it wraps, or 0.
func reasonOf(err error) int32 {
	for i, s := range sentinels {
		if errors.Is(err, s) {
			return int32(i + 1)
		}
	}
	return 0
}

// remoteError is a cause that crossed the wire as text: it keeps the text
// and the sentinel, so errors.Is works in every process.
type remoteError struct {
	sentinel error
	text     string
}

func newRemoteError(reason int32, text string) error {
	e := &remoteError{sentinel: ErrProtocol, text: text}
	if reason >= 1 && int(reason) <= len(sentinels) {
		e.sentinel = sentinels[reason-1]
	}
	return e
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.sentinel }
