// Package allreduce averages a float32 (or float64) buffer across the
// members of a ring, leaving every member with the same bits, with a
// bandwidth-optimal ring all-reduce over a pluggable transport: plain TCP
// (package tcpnet, the default), gRPC streams (package grpcnet), or, for
// tests, memory (package memnet).
//
// It knows nothing of neural networks: the worker hands it the flat
// gradient once per training step, and gets the mean back in place.
//
// # The ring
//
// N members, ranks 0 … N−1, each hold a buffer of S values. Member r sends
// only to r+1 and receives only from r−1 (mod N), over one long-lived
// stream each way, opened when the ring forms. The buffer is cut into N
// segments, and a call runs 2(N−1) steps:
//
//   - Reduce-scatter, steps 0 … N−2: at step t member r sends segment r−t
//     and adds the segment r−t−1 it receives into its own buffer. A
//     segment's partial sum thus travels once round the ring, gaining one
//     member's values per hop, and after N−1 steps member r holds the
//     complete sum of segment r+1, which it divides by the total weight
//     (N for a plain mean) in the same pass as the last add: the segment
//     is final.
//   - All-gather, steps N−1 … 2N−3: every member passes the final segment
//     it owns, then the final segments it receives, round the ring, copying
//     each into its buffer.
//
// Each member sends and receives 2(N−1)/N·S values per call, whatever N:
// the per-member traffic, and so the time on a bandwidth-bound network,
// hardly grows with the ring.
//
// Every segment is summed, and scaled, by one member only, in one order,
// and then copied bit for bit to the others: replicas of a model updated
// with the result never drift apart. The sum of a segment is N−1 additions,
// so the result is within γ_N·Σᵢ|wᵢxᵢ|/Σᵢwᵢ + u·|mean| of the exact
// weighted mean, with γ_k = k·u/(1−k·u) and u = 2⁻²⁴ for float32 or 2⁻⁵³
// for float64 (AllReduceWeighted of a []float64: twice the bytes, for jobs
// that train in float64), as the tests check.
//
// # Chunks and pipelining
//
// Segments are cut into chunks (WithChunkBytes, 256 KiB by default) and a
// step is a stream of chunks, not one message. A member forwards chunk c of
// step t+1 as soon as chunk c of step t has arrived and been added, so
// sending, receiving and adding overlap across the ring, and a message
// never comes near gRPC's 4 MiB limit. On the wire a chunk's payload is
// its values as raw little-endian bytes, written straight from the
// caller's buffer and added into it as received, without per-element
// encoding (tcpnet's doc and codec.go say how each transport frames it). A
// call that succeeds returns once the transport has finished reading the
// buffer; after a failed call the gRPC transport may read it until Close
// returns. A Ring allocates nothing per call in proportion to S.
//
// # Weights
//
// AllReduceWeighted computes Σᵢ wᵢ·bufᵢ / Σᵢ wᵢ, for members whose
// micro-batches differ in size. The weights travel round the ring with
// the reduce-scatter's chunks, so that every member learns all of them and
// sums them in rank order: the divisor is the same bits everywhere. No
// pass over the buffer is spent on them: a member multiplies its own
// values by its weight as it adds to them, and, at the first step, the
// predecessor's values, which arrive as they are, by the predecessor's.
//
// # Failures
//
// A ring is formed for one generation of one job's membership (Membership),
// and fails as a whole. A member returns an error, rather than hang, when a
// neighbour
//
//   - disconnects or dies: its stream breaks, at once;
//   - stalls: nothing arrives from it within the timeout (WithTimeout, 5s by
//     default), or it accepts nothing for that long;
//   - leaves: its call is cancelled, or its ring closed during a call both
//     take part in;
//   - sends a chunk of another job or generation, or out of turn.
//
// The member that detects the failure sends an abort, naming the member at
// fault, to both neighbours, which pass it on, so every member fails
// promptly with a *PeerError naming the same culprit. While a member waits
// for data from its predecessor it sends its successor heartbeats: a
// member downstream of a stall hears that its predecessor is alive and
// waiting, and only the stalled member's successor times out. Context
// cancellation returns at once, and breaks the ring: its neighbours are
// mid-call. The timeout also bounds how far apart members may enter a
// call, since the first one waits for the last.
//
// Aborts say how many calls their sender had completed. A member still
// inside one of those calls finishes it before it fails: everything it
// needs from the sender was sent before the abort. So a member that closes
// its ring as soon as its last call returns does not fail its neighbours'
// last call; their next call fails, naming it.
//
// A failed ring stays failed. Members form a new Ring, of a new generation
// and possibly new membership, in the same process; a ring cannot be formed
// with an older generation than one formed before, and chunks of another
// generation are refused before they touch the buffer, so a member that
// wakes up from a stall cannot corrupt a newer ring.
//
// A failure during the last step fails only the members still waiting for
// their last chunks; those that had everything have a correct result. No
// protocol can make every member agree on the outcome of a call when
// messages can be lost at any time, so a worker that sees an error lets
// the coordinator decide what every member does next.
//
// # Transports
//
// The algorithm is written once, over Transport and Link: two small
// interfaces that open a member's links to its neighbours and carry Frames
// along them; each transport is a package of its own. Package tcpnet is
// the default: one TCP connection per ring edge, introduced through the
// gRPC PeerService. Package grpcnet carries the frames on gRPC streams
// themselves, for networks where only the gRPC port is open; package
// memnet is an in-memory network with injectable delay, loss, crashes and
// stalls, for tests. Transports frame payloads with Values.WireBytes and
// Values.ApplyWire (or Values.Apply), and aborts with AbortMessage and
// AbortFrame.
//
// # Using it in a worker
//
// A worker creates one transport, registers it on the gRPC server it
// serves its other services on, and forms one Ring per membership
// generation the coordinator announces:
//
//	srv := grpc.NewServer()
//	data, _ := net.Listen("tcp", ":7072")
//	t := tcpnet.New(data, advertisedDataAddr)
//	t.Register(srv)
//	// ... register the worker's own services, health and reflection; Serve.
//
//	// For each generation, Addrs being the members' gRPC addresses:
//	ring, err := allreduce.NewRing(ctx, t, allreduce.Membership{
//		Job: job, Generation: gen, Rank: rank, Addrs: peerAddrs,
//	}, allreduce.WithLogger(log))
//	// For each step:
//	err = allreduce.AllReduceWeighted(ctx, ring, grads, float64(batchRows))
//	// On an error, or when the coordinator announces a new generation:
//	ring.Close()
//
// Close rings, then the transport, before stopping the server gracefully.
// For the gRPC data plane, create the server with grpcnet.ServerOptions and
// use a grpcnet.Node in place of tcpnet.
package allreduce
