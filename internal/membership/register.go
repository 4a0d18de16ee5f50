package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
)

// DefaultTTL is the lease TTL when Register is given none: how long a dead
// worker stays listed.
const DefaultTTL = 5 * time.Second

// MinTTL is the shortest lease TTL Register grants. The client renews a
// lease at most every 500 ms and gives it up when no renewal is answered
// within the TTL: a shorter TTL would lose live workers to one slow
// renewal.
const MinTTL = 2 * time.Second

var (
	// ErrDuplicateID is returned by Register when the ID is registered.
	ErrDuplicateID = errors.New("membership: worker ID already registered")
	// ErrNoAddr is returned by Register for a member without an address.
	ErrNoAddr = errors.New("membership: worker has no address")
)

// Registration is a worker's presence in the membership. Its key lives as
// long as the session's lease.
type Registration struct {
	session *concurrency.Session
	member  Worker
}

// Register publishes m under a new lease of the given TTL (rounded up to
// whole seconds; DefaultTTL when 0, MinTTL when less) and keeps the lease alive until Close
// or until the lease is lost. A zero m.Started is set to now. ctx bounds
// registering only, not the registration's life.
func Register(ctx context.Context, cli *clientv3.Client, m Worker, ttl time.Duration) (*Registration, error) {
	if err := etcdkeys.ValidID(m.ID); err != nil {
		return nil, fmt.Errorf("membership: registering: %w", err)
	}
	if m.Addr == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoAddr, m.ID)
	}
	if m.Started.IsZero() {
		m.Started = time.Now().UTC()
	}
	value, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("membership: encoding worker %s: %w", m.ID, err)
	}
	switch {
	case ttl == 0:
		ttl = DefaultTTL
	case ttl < MinTTL:
		ttl = MinTTL
	}
	seconds := int((ttl + time.Second - 1) / time.Second)

	// The lease is granted under ctx; the session that keeps it alive runs
	// on the client's context, to outlive this call.
	lease, err := cli.Grant(ctx, int64(seconds))
	if err != nil {
		return nil, fmt.Errorf("membership: granting lease for worker %s: %w", m.ID, err)
	}
	session, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(seconds))
	if err != nil {
		return nil, fmt.Errorf("membership: keeping lease of worker %s alive: %w", m.ID, err)
	}
	r := &Registration{session: session, member: m}

	key := etcdkeys.Worker(m.ID)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		err = fmt.Errorf("membership: registering worker %s: %w", m.ID, err)
		return nil, errors.Join(err, r.Close())
	}
	if !resp.Succeeded {
		err = fmt.Errorf("%w: %s", ErrDuplicateID, holder(resp, m.ID))
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// holder describes who holds an ID, for ErrDuplicateID.
func holder(resp *clientv3.TxnResponse, id string) string {
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return id // gone since the comparison
	}
	other, err := decode(kvs[0])
	if err != nil {
		return id
	}
	return fmt.Sprintf("%s at %s since %s", id, other.Addr, other.Started.Format(time.RFC3339))
}

// Worker returns the registered worker.
func (r *Registration) Worker() Worker { return r.member }

// ID returns the registered member's ID.
func (r *Registration) ID() string { return r.member.ID }

// Lease returns the lease the registration lives under; keys written under
// it (barrier arrivals) vanish with the worker.
func (r *Registration) Lease() clientv3.LeaseID { return r.session.Lease() }

// Done is closed when the lease is no longer kept alive: after Close, when
// the client is closed, or when etcd let the lease expire (unreachable for
// a TTL). The worker is then no longer a member and must register again.
func (r *Registration) Done() <-chan struct{} { return r.session.Done() }

// Close stops keeping the lease alive and revokes it, removing the
// registration at once: a graceful leave.
func (r *Registration) Close() error {
	err := r.session.Close()
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("membership: revoking lease of worker %s: %w", r.member.ID, err)
	}
	return nil
}

// Evict removes worker id from the membership at once by revoking the lease
// its registration lives under, with everything written under it (barrier
// arrivals). It is how a coordinator drops a worker a failure names, rather
// than waiting for the lease to expire: a dead worker is gone, and a live
// one sees its registration lost and registers again, under a new lease.
// Evicting a worker that is not registered does nothing.
func Evict(ctx context.Context, cli *clientv3.Client, id string) error {
	resp, err := cli.Get(ctx, etcdkeys.Worker(id))
	if err != nil {
		return fmt.Errorf("membership: evicting worker %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("membership: evicting worker %s: %w", id, err)
	}
	return nil
}
