/*
Package etcdkeys builds every etcd key ringtrain reads or writes; no other
package spells a key.

The layout, all under Root:

	/ringtrain/workers/<worker>                  a registered worker: JSON {"id","addr","started"},
	                                             under the worker's session lease (internal/membership)
	/ringtrain/jobs/<job>/state                  the job's state, written by the coordinator
	/ringtrain/jobs/<job>/plan/<epoch>           the epoch plan: ring order, generation, ...
	/ringtrain/jobs/<job>/barrier/<epoch>/<generation>/enter/<worker>
	/ringtrain/jobs/<job>/barrier/<epoch>/<generation>/leave/<worker>
	                                             a member's arrival at a barrier phase: its payload
	                                             (a parameter checksum), under its session lease (internal/barrier)

Epochs and generations are written as ten zero-padded digits, so that keys
sort as the numbers do and a range read returns plans and barriers in order.
Worker and job IDs are path segments: ValidID says which are allowed.

A barrier is identified by (job, epoch, generation): the coordinator starts a
new generation whenever it reorders the ring, so a redone epoch never meets
the arrivals of the failed attempt.

To share one etcd between several ringtrain installations, give each a
client wrapped by go.etcd.io/etcd/client/v3/namespace.
*/
package etcdkeys
