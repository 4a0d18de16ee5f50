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
// ring generation. See package epoch for the protocol.
//
// The coordinator does not compute gradients and is never on the per-step
// path: workers run every step of an epoch among themselves.
//
// Jobs live in memory while the coordinator runs; their specs, checkpoints
// and models are files under the data directory, and their state is
// mirrored in etcd for operators. A restarted coordinator does not resume
// the jobs of its previous run.
package coordinator
