package barrier

import (
	"context"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
)

// phaseState is what a waiter knows of a phase at one revision.
type phaseState struct {
	b     *Barrier
	phase etcdkeys.Phase
	// live holds the members that are registered.
	live map[string]bool
	// arrived holds the payloads of the members that have arrived.
	arrived map[string]string
}

// wait judges the phase at rev from the two reads of b.reads, then at every
// later revision, until it passes or fails.
func (b *Barrier) wait(ctx context.Context, phase etcdkeys.Phase, rev int64, reads []*pb.ResponseOp) (map[string]string, error) {
	s := &phaseState{b: b, phase: phase, live: map[string]bool{}, arrived: map[string]string{}}
	for _, read := range reads {
		for _, kv := range read.GetResponseRange().GetKvs() {
			s.apply(mvccpb.PUT, kv)
		}
	}
	if done, payloads, err := s.verdict(rev); done {
		return payloads, err
	}
	return s.watch(ctx, rev)
}

// watch judges every revision after rev until the phase is decided.
func (s *phaseState) watch(ctx context.Context, rev int64) (map[string]string, error) {
	b, phase := s.b, s.phase
	// One watch over everything, not one per prefix: events then come in
	// revision order, and every waiter judges the same revisions alike.
	// Without a leader etcd cannot expire a dead member's lease: fail
	// rather than wait on it.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := b.cli.Watch(wctx, etcdkeys.Root, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		resp, ok := <-wch
		if ctx.Err() != nil {
			return nil, &StalledError{Barrier: b.prefix, Phase: phase, Missing: s.missing(), Err: ctx.Err()}
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s of %s", ErrWatchClosed, phase, b.prefix)
		}
		if err := resp.Err(); err != nil {
			return nil, fmt.Errorf("%w: %s of %s: %w", ErrWatchClosed, phase, b.prefix, err)
		}
		// A response holds whole revisions; judge after each.
		for i, ev := range resp.Events {
			s.apply(ev.Type, ev.Kv)
			if i+1 < len(resp.Events) && resp.Events[i+1].Kv.ModRevision == ev.Kv.ModRevision {
				continue
			}
			if done, payloads, err := s.verdict(ev.Kv.ModRevision); done {
				return payloads, err
			}
		}
	}
}

// apply records one key's creation, update or deletion.
func (s *phaseState) apply(typ mvccpb.Event_EventType, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	if id, ok := etcdkeys.WorkerID(key); ok && s.listed(id) {
		s.live[id] = typ == mvccpb.PUT
		return
	}
	if id, ok := etcdkeys.ArrivalWorker(s.b.prefix, s.phase, key); ok && s.listed(id) {
		if typ == mvccpb.PUT {
			s.arrived[id] = string(kv.Value)
		} else {
			delete(s.arrived, id)
		}
	}
}

// verdict says whether the phase is decided at rev, and how: passed, with
// every member's payload, or failed with a *LostError.
func (s *phaseState) verdict(rev int64) (done bool, payloads map[string]string, err error) {
	if len(s.arrived) == len(s.b.members) {
		return true, s.arrived, nil
	}
	var lost []string
	for _, id := range s.b.members {
		if _, ok := s.arrived[id]; !ok && !s.live[id] {
			lost = append(lost, id)
		}
	}
	if lost != nil {
		return true, nil, &LostError{Barrier: s.b.prefix, Phase: s.phase, Members: lost, Revision: rev}
	}
	return false, nil, nil
}

// missing lists the members that have not arrived.
func (s *phaseState) missing() []string {
	var out []string
	for _, id := range s.b.members {
		if _, ok := s.arrived[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

func (s *phaseState) listed(id string) bool {
	_, ok := slices.BinarySearch(s.b.members, id)
	return ok
}
