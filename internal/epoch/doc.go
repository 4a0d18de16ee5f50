// Package epoch defines what the coordinator and the workers agree on for
// one epoch of a distributed job: the Plan the coordinator publishes in etcd
// (which epoch, which ring generation, which members in which order, and the
// checksum of the state the epoch starts from), and the Checksum every
// member computes of its parameters and optimiser state.
//
// The protocol, in order:
//
//  1. At each epoch boundary the coordinator reads the live workers from
//     etcd, orders them by ID, and publishes a Plan under
//     etcdkeys.Plan(job, epoch). A changed membership or a retried epoch gets
//     a new generation.
//  2. Each named worker loads the start checkpoint (unless its own state
//     already has the plan's checksum), forms the ring of that generation,
//     and enters the epoch's barrier with its checksum; all must agree.
//  3. The members run every step on their own: compute the gradient of
//     their part of the global batch, all-reduce it weighted by the part's
//     size, apply the optimiser. No coordinator round trip per step.
//  4. They leave the barrier with the checksum of their new state; all must
//     agree. Rank 0 uploads the checkpoint; the coordinator saves it,
//     evaluates, and publishes the next plan.
//
// A worker that dies makes the others' all-reduce fail within its timeout;
// they report the failure, and the coordinator republishes the same epoch
// with the remaining workers under a new generation, from the last
// checkpoint. This package holds data and pure functions only.
package epoch
