package barrier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
)

var (
	// ErrMemberLost matches a *LostError.
	ErrMemberLost = errors.New("barrier: member lost")
	// ErrNotMember is returned when a worker arrives at a barrier that does
	// not list it.
	ErrNotMember = errors.New("barrier: not a listed member")
	// ErrWatchClosed is returned when etcd ends the watch before a verdict.
	ErrWatchClosed = errors.New("barrier: watch closed")
)

// LostError names the listed members that were gone, neither arrived nor
// registered, at a revision before the phase was passed.
type LostError struct {
	Barrier  string
	Phase    etcdkeys.Phase
	Members  []string
	Revision int64
}

func (e *LostError) Error() string {
	return fmt.Sprintf("barrier: %s lost before arriving at %s of %s (revision %d)",
		strings.Join(e.Members, ", "), e.Phase, e.Barrier, e.Revision)
}

// Is makes errors.Is(err, ErrMemberLost) hold.
func (e *LostError) Is(target error) bool { return target == ErrMemberLost }

// StalledError is what a wait returns when its context ends before the
// phase is passed: Missing are the listed members that had not arrived,
// in ID order.
type StalledError struct {
	Barrier string
	Phase   etcdkeys.Phase
	Missing []string
	Err     error // the context's
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("barrier: %s of %s: still waiting for %s: %v", e.Phase, e.Barrier, strings.Join(e.Missing, ", "), e.Err)
}

// Unwrap returns the context's error.
func (e *StalledError) Unwrap() error { return e.Err }

// Participant is a registered worker: *membership.Registration is one.
type Participant interface {
	ID() string
	// Lease is the lease of the worker's registration key.
	Lease() clientv3.LeaseID
}

// Barrier is one barrier (a job's epoch, for one ring generation) and its
// members. It holds no state of its own: the same Barrier may be used by
// several goroutines.
type Barrier struct {
	cli     *clientv3.Client
	prefix  string
	members []string
}

// New returns the barrier under prefix (from etcdkeys.Barrier) for the
// given members.
func New(cli *clientv3.Client, prefix string, members []string) *Barrier {
	ms := slices.Clone(members)
	slices.Sort(ms)
	return &Barrier{cli: cli, prefix: prefix, members: slices.Compact(ms)}
}

// Enter arrives at the enter phase with payload and waits until every
// member has entered. It returns every member's payload by ID; a
// *LostError if a member is lost first; a *StalledError, wrapping ctx's
// error and naming the members still awaited, if ctx ends first.
func (b *Barrier) Enter(ctx context.Context, self Participant, payload string) (map[string]string, error) {
	return b.arrive(ctx, etcdkeys.PhaseEnter, self, payload)
}

// Leave is Enter for the leave phase.
func (b *Barrier) Leave(ctx context.Context, self Participant, payload string) (map[string]string, error) {
	return b.arrive(ctx, etcdkeys.PhaseLeave, self, payload)
}

// Wait waits, without arriving, until every member has arrived at phase,
// and returns as Enter does. It judges from the revision it starts at: start
// it before a member could have left the membership after passing.
func (b *Barrier) Wait(ctx context.Context, phase etcdkeys.Phase) (map[string]string, error) {
	resp, err := b.cli.Txn(ctx).Then(b.reads(phase)...).Commit()
	if err != nil {
		return nil, fmt.Errorf("barrier: reading %s of %s: %w", phase, b.prefix, err)
	}
	return b.wait(ctx, phase, resp.Header.Revision, resp.Responses)
}

func (b *Barrier) arrive(ctx context.Context, phase etcdkeys.Phase, self Participant, payload string) (map[string]string, error) {
	id := self.ID()
	if _, listed := slices.BinarySearch(b.members, id); !listed {
		return nil, fmt.Errorf("%w: %s at %s", ErrNotMember, id, b.prefix)
	}
	// Arrive and read in one transaction, so that the watch starts right
	// after our own arrival: no revision at which the phase passed can be
	// missed, whenever this member gets there.
	registration := etcdkeys.Worker(id)
	resp, err := b.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(registration), "=", self.Lease())).
		Then(append([]clientv3.Op{
			clientv3.OpPut(etcdkeys.Arrival(b.prefix, phase, id), payload, clientv3.WithLease(self.Lease())),
		}, b.reads(phase)...)...).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("barrier: arriving at %s of %s as %s: %w", phase, b.prefix, id, err)
	}
	if !resp.Succeeded {
		// Our registration is gone, or was never under this lease.
		return nil, &LostError{Barrier: b.prefix, Phase: phase, Members: []string{id}, Revision: resp.Header.Revision}
	}
	return b.wait(ctx, phase, resp.Header.Revision, resp.Responses[1:])
}

// reads are the two reads a wait starts from: registrations and arrivals.
func (b *Barrier) reads(phase etcdkeys.Phase) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpGet(etcdkeys.WorkersPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(etcdkeys.Arrivals(b.prefix, phase), clientv3.WithPrefix()),
	}
}
