// Package worker is the runtime of a ringtrain worker: it registers in etcd
// under a lease, follows the epoch plans the coordinator publishes there,
// and for each plan that names it runs the epoch: fetch what it needs from
// the coordinator (cached per job), form the ring of the plan's generation,
// enter the barrier, run every step (gradient of its part of the global
// batch, weighted ring all-reduce, optimiser step), leave the barrier and,
// as rank 0, upload the checkpoint.
//
// A worker runs one plan at a time. A newer plan for the same epoch (a new
// generation) or a withdrawn plan cancels the running one. A failed epoch
// is reported to the coordinator, which redoes it. See package epoch for
// the protocol. The worker does not decide anything about the job: what to
// train, with whom and from which state all come from the plan.
package worker
