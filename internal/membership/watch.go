package membership

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
)

// ErrWatchClosed is returned by Watch when etcd ends the watch.
var ErrWatchClosed = errors.New("membership: watch closed")

// Watch calls fn with the current membership, then with a new snapshot
// after every change, in revision order, until ctx ends, fn returns an
// error, or the watch fails. It returns that error; fn runs on the
// caller's goroutine.
func Watch(ctx context.Context, cli *clientv3.Client, fn func(Snapshot) error) error {
	members, rev, err := List(ctx, cli)
	if err != nil {
		return err
	}
	set := make(map[string]Worker, len(members))
	for _, m := range members {
		set[m.ID] = m
	}
	if err := fn(Snapshot{Members: members, Revision: rev}); err != nil {
		return err
	}

	// Without a leader etcd cannot expire leases: fail rather than report
	// dead workers as live.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := cli.Watch(wctx, etcdkeys.WorkersPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		resp, ok := <-wch
		if ctx.Err() != nil {
			return fmt.Errorf("membership: watching workers: %w", ctx.Err())
		}
		if !ok {
			return ErrWatchClosed
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrWatchClosed, err)
		}
		if len(resp.Events) == 0 {
			continue
		}
		for _, ev := range resp.Events {
			if err := apply(set, ev); err != nil {
				return err
			}
		}
		// A response holds whole revisions; the last event's is the one the
		// set now shows.
		last := resp.Events[len(resp.Events)-1].Kv.ModRevision
		if err := fn(Snapshot{Members: sorted(set), Revision: last}); err != nil {
			return err
		}
	}
}

// apply updates a membership set with one event.
func apply(set map[string]Worker, ev *clientv3.Event) error {
	if ev.Type == mvccpb.DELETE {
		if id, ok := etcdkeys.WorkerID(string(ev.Kv.Key)); ok {
			delete(set, id)
		}
		return nil
	}
	m, err := decode(ev.Kv)
	if err != nil {
		return err
	}
	set[m.ID] = m
	return nil
}
