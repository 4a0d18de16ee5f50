// Package grpcnet is the fallback transport of pkg/allreduce's rings: each
// ring edge is one gRPC stream (PeerService.Link), for networks where only
// the gRPC port is open between workers. It is slower than package tcpnet,
// the default (gRPC-Go's HTTP/2 framing costs about three times the CPU of
// bare TCP per byte; docs/benchmarks.md has the figures).
//
// A chunk travels as a protobuf LinkRequest (proto/ringtrain/v1/peer.proto)
// that the link's codec (content-subtype "ringtrain-raw") writes and reads
// by hand: its payload is handed to gRPC straight from the caller's buffer
// and added into it straight from gRPC's receive buffers, without
// per-element encoding; the header is padded so that the payload lands
// aligned. A call that succeeds returns once gRPC has finished reading the
// caller's buffer (Link.Settle); after a failed call gRPC may read it until
// the ring's Close returns.
//
// What the package does not do: the all-reduce itself (pkg/allreduce), or
// anything but carry frames along one edge and introduce the two ends.
//
// # Use
//
//	srv := grpc.NewServer(grpcnet.ServerOptions()...) // windows sized for chunks
//	node := grpcnet.NewNode()
//	node.Register(srv)
//	ring, err := allreduce.NewRing(ctx, node, membership)
//	// ... ring.AllReduce per step; ring.Close() per generation
//	node.Close() // after the rings, before stopping the server
package grpcnet
