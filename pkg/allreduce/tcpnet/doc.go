// Package tcpnet is the default transport of pkg/allreduce's rings: each
// ring edge is one plain TCP connection (optionally TLS), introduced
// through the gRPC peer service, the way Gloo, NCCL and Horovod separate a
// rendezvous from a raw data plane.
//
// # Forming an edge
//
// Member r of a ring asks its successor, over gRPC (PeerService.OpenTCP),
// to open the edge r → r+1 of ring (job, generation). The successor
// answers once it is forming the same ring, refusing a generation older
// than one it has formed (allreduce.ErrGeneration), with the address of
// its data listener and 32 random bytes for this edge alone. Member r
// connects there and opens with a hello: magic, version, job, generation,
// ranks and the secret. The successor hands the connection to the forming
// ring only if it presents the secret of an edge it offered and nobody has
// used; anything else is closed before a frame is read. One byte back
// tells member r that its link is open.
//
// # Frames
//
// A frame is a fixed 48-byte little-endian header (kind, precision, step,
// payload length, call, offset, total, weight; see wire.go) and its
// payload. Data frames are written with one vectored write straight from
// the caller's buffer; the receiver reads the header, asks the ring where
// the payload goes (allreduce.Sink) and reads it straight into place when
// it is copied, or into one reused chunk buffer from which it is added.
// Nothing is allocated per call or per frame. Aborts carry the protobuf
// Abort of proto/ringtrain/v1/peer.proto; heartbeats are a bare header.
//
// What the package does not do: it knows nothing of the all-reduce (the
// order of frames, timeouts, failure detection are pkg/allreduce's), and
// it authenticates connections only by the secret handed out over gRPC:
// give it a *tls.Config (WithTLS) where the network is not trusted.
//
// # Use
//
//	data, _ := net.Listen("tcp", ":7072")
//	t := tcpnet.New(data, "worker-3.example:7072")
//	t.Register(grpcServer) // the worker's gRPC server, on :7071
//	ring, err := allreduce.NewRing(ctx, t, membership)
//	// ... ring.AllReduce(ctx, buf) per step; ring.Close() per generation
//	t.Close() // after the rings, before stopping the gRPC server
package tcpnet
