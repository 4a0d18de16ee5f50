/*
Package barrier implements the epoch barrier: a known set of registered
workers meet at its two phases, enter before an epoch's first step and leave
after its last, and each learns what every other brought (a checksum of its
parameters).

A member arrives at a phase by writing its payload under its membership
lease (etcdkeys.Arrival), then waits. The phase is passed when, at some etcd
revision, every listed member's arrival key exists; it fails as soon as, at
some revision, a listed member has neither arrived nor a registration
(etcdkeys.Worker): that member is lost, and the error names it. A member
that dies after arriving loses both keys at once, since they share its
lease, so it is lost too unless the phase was already passed.

Every waiter reads the same revisions in order, from a single watch of
etcdkeys.Root that starts right after the revision of its own arrival, so
all members that wait to the end reach the same verdict: none passes a
phase that another sees fail. A closed or failed watch is an error, never a
pass. A waiter whose context ends gives up alone; its arrival stays for the
others.

Unlike etcd's recipes.DoubleBarrier, the member set is given rather than
counted (a worker that joins late cannot stand in for a dead one), waits take
a context, and a member that dies fails the barrier promptly (within its
lease TTL) instead of hanging it.

A worker, with the registration from membership.Register and the
epoch.Plan of the epoch:

	b := barrier.New(cli, etcdkeys.Barrier(plan.Job, plan.Epoch, plan.Generation), plan.IDs())
	sums, err := b.Enter(ctx, reg, checksum)
	// ... check every sum is the same, run the epoch ...
	sums, err = b.Leave(ctx, reg, newChecksum)

An observer that is no member (the package's tests; the coordinator learns
of an epoch's end from the worker that uploads its checkpoint instead)
waits for a phase without arriving:

	sums, err := b.Wait(ctx, etcdkeys.PhaseLeave)

Once Wait(ctx, etcdkeys.PhaseLeave) has succeeded the barrier's keys may be
deleted: every member's verdict is fixed by revisions it reads in order.
*/
package barrier
