// Package coordinator is the service that runs distributed training jobs.
//
// It accepts jobs over gRPC (JobService), queues them, and runs one at a
// time: at every epoch boundary it reads the live workers from etcd,
// publishes an epoch.Plan naming the ring, serves the workers what the plan
// needs (WorkerService: job spec, training set, start checkpoint), and waits
// for the epoch's outcome. A completed epoch's checkpoint is saved in the
// data directory, evaluated on the validation and test sets, and streamed to
// watchers; a failed attempt (a worker died, stalled or reported an error)
// is redone from the last checkpoint by the workers that remain, under a new
// ring generation, after evicting the worker the failure names. See package
// epoch for the protocol.
//
// The coordinator does not compute gradients and is never on the per-step
// path: workers run every step of an epoch among themselves.
//
// Jobs outlive the coordinator: their records are kept in etcd and their
// specs, checkpoints and models are files under the data directory, so a
// coordinator that starts with the same etcd and directory resumes them
// (Recover). Several coordinators may share them: Serve elects one leader
// in etcd, and the others stand by to take over.
package coordinator
