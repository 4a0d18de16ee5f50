// Package allreduce averages a float32 (or float64) buffer across the
// members of a ring, leaving every member with the same bits, with a
// bandwidth-optimal ring all-reduce over a pluggable transport: plain TCP
// (package tcpnet, the default), gRPC streams (package grpcnet), or, for
// tests, memory (package memnet).
//
// It knows nothing of neural networks: the worker hands it the flat
// gradient once per training step, and gets the mean back in place.
//
// # What a call guarantees
//
// Ring.AllReduce (and AllReduceWeighted, for either precision and a
// weight) replaces the buffer, on every member, with the (weighted) mean of
// all members' buffers, by a bandwidth-optimal ring all-reduce: each member
// sends and receives 2(N−1)/N of the buffer per call, whatever N. Every
// member ends with the same bits, so replicas of a model updated with the
// result never drift apart; each value is within γ_N·Σᵢ|wᵢxᵢ|/Σᵢwᵢ +
// u·|mean| of the exact weighted mean (γ_k = k·u/(1−k·u), u = 2⁻²⁴ for
// float32, 2⁻⁵³ for float64), as the tests check. Nothing is allocated per
// call over TCP.
//
// A ring is formed for one generation of one job's membership (Membership)
// and fails as a whole: when a neighbour dies, disconnects, stalls past the
// timeout (WithTimeout), leaves, or sends a frame of another job or
// generation, every member's call returns within the timeout with an
// error, a *PeerError naming the same culprit; cancelling a call's context
// returns at once and breaks the ring. A failed ring stays failed: members
// form a new Ring of a newer generation, and a ring of an older generation
// than one formed before is refused (ErrGeneration), so a member that wakes
// from a stall cannot corrupt a newer ring.
//
// docs/allreduce.md tells the rest once: the algorithm step by step, chunks
// and pipelining, how weights travel, the frames on the wire of each
// transport, the failure protocol (aborts, heartbeats), and the cost
// model.
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
