package allreduce

// schedule is what one call sends and receives: which elements each frame
// carries.
//
// The buffer of size elements is cut into n segments whose lengths differ by
// at most one, and every segment into the same number of chunks, so that
// every step has the same frames and frame (t, c) depends on exactly frame
// (t-1, c). Frames are numbered k = t*chunks + c in the order they are sent
// and received.
type schedule struct {
	n, rank int
	size    int
	chunks  int // per segment, at least 1
}

func newSchedule(size, n, rank, chunkElems int) schedule {
	longest := (size + n - 1) / n
	chunks := max(1, (longest+chunkElems-1)/chunkElems)
	return schedule{n: n, rank: rank, size: size, chunks: chunks}
}

// frames is the number of frames each member sends, and receives, per call.
func (p schedule) frames() int { return 2 * (p.n - 1) * p.chunks }

// reducing reports whether step t belongs to the reduce-scatter.
func (p schedule) reducing(t int) bool { return t < p.n-1 }

func (p schedule) mod(i int) int { return (i%p.n + p.n) % p.n }

// sendSegment is the segment this member sends at step t: in the
// reduce-scatter the partial sum it has just completed, in the all-gather
// the final segment it has just received (first, the one it owns).
func (p schedule) sendSegment(t int) int {
	if p.reducing(t) {
		return p.mod(p.rank - t)
	}
	return p.mod(p.rank + 1 - (t - (p.n - 1)))
}

// recvSegment is the segment this member receives at step t. After the last
// reduce-scatter step it owns segment rank+1, summed over all members.
func (p schedule) recvSegment(t int) int {
	if p.reducing(t) {
		return p.mod(p.rank - t - 1)
	}
	return p.mod(p.rank - (t - (p.n - 1)))
}

// chunk returns the element range [lo, hi) of chunk c of segment s.
func (p schedule) chunk(s, c int) (lo, hi int) {
	// int64 keeps s*size exact for any buffer a 32-bit int can index.
	slo := int(int64(s) * int64(p.size) / int64(p.n))
	shi := int(int64(s+1) * int64(p.size) / int64(p.n))
	l := int64(shi - slo)
	return slo + int(int64(c)*l/int64(p.chunks)), slo + int(int64(c+1)*l/int64(p.chunks))
}

// sendRange and recvRange are the elements of frame k.
func (p schedule) sendRange(k int) (lo, hi int) {
	return p.chunk(p.sendSegment(k/p.chunks), k%p.chunks)
}

func (p schedule) recvRange(k int) (lo, hi int) {
	return p.chunk(p.recvSegment(k/p.chunks), k%p.chunks)
}
