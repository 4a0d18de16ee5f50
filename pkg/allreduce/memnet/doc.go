// Package memnet is an in-memory transport for pkg/allreduce's rings, for
// tests of the algorithm rather than of the network, in the manner of
// etcd's rafttest network and hashicorp/raft's InmemTransport: every member
// of every ring on one Network shares it, and a test injects delay, loss
// (SetDelay, SetDrop), crashes (Disconnect) and stalls (Pause, frozen as
// SIGSTOP would). A link holds 4 frames, so a stalled receiver stalls its
// sender as flow control would. Randomness comes from the seed, so a
// failing test can be replayed (up to goroutine scheduling).
package memnet
