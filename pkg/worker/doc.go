// Package worker is the runtime of a ringtrain worker: it registers in etcd
// under a lease, follows the epoch plans the coordinator publishes there,
// and for each plan that names it runs the epoch: fetch what it needs from
// the coordinator (cached per job), form the ring of the plan's generation,
// enter the barrier, run every step (gradient of its part of the global
// batch, weighted ring all-reduce, optimiser step), leave the barrier and,
// as rank 0, upload the checkpoint.
//
// Where the gradient is larger than Config.BucketBytes (DefaultBucketBytes
// unless set; negative for never), a step overlaps the all-reduce with
// backpropagation, as PyTorch DDP's gradient buckets do: backward finishes
// the layers last to first, and a goroutine that lives for the epoch
// all-reduces each bucket of finished layers (contiguous, cut at layer
// boundaries, from the end of the gradient backwards, the loss in the first)
// while backward computes the layers below; the optimiser step waits for
// the last bucket. The buckets depend only on the network and BucketBytes,
// so every member makes the same calls; members configured differently
// fail at their first step, where the ring finds their lengths differ
// (allreduce.ErrMismatch).
//
// A worker runs one plan at a time. A newer plan for the same epoch (a new
// generation) or a withdrawn plan cancels the running one. A failed epoch
// is reported to the coordinator, which redoes it. See package epoch for
// the protocol. The worker does not decide anything about the job: what to
// train, with whom and from which state all come from the plan.
package worker
