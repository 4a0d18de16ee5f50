// Package membership keeps the set of live workers in etcd: a worker
// registers under a lease that a session keeps alive, so its key vanishes
// within the lease's TTL when the process dies, and anyone can list or
// watch who is registered.
//
// A worker ID is held by one registration at a time: Register refuses an
// ID that is registered (ErrDuplicateID). A worker restarted under its old
// ID retries until the dead process's key has expired, at most one TTL.
//
// A worker:
//
//	reg, err := membership.Register(ctx, cli, membership.Worker{ID: id, Addr: advertise}, 0)
//	if err != nil { ... }
//	defer reg.Close() // a graceful leave: the key goes at once
//	select {
//	case <-reg.Done(): // lease lost (etcd unreachable for a TTL): register again
//	case <-ctx.Done():
//	}
//
// The coordinator:
//
//	err := membership.Watch(ctx, cli, func(s membership.Snapshot) error {
//		log.Printf("%d workers at revision %d", len(s.Members), s.Revision)
//		return nil
//	})
package membership
