package allreduce

import "context"

// Kind says what a Frame carries.
type Kind uint8

const (
	// KindData carries one chunk of one segment at one step of a call.
	KindData Kind = iota + 1
	// KindHeartbeat says "alive, waiting for my own predecessor"; see doc.go.
	KindHeartbeat
	// KindAbort says the ring has failed, and who is at fault.
	KindAbort
)

// Frame is the unit that travels along a ring edge. Which fields are set
// depends on Kind: every frame has Job and Generation; data frames have the
// rest but Abort; heartbeats have Call; aborts have Abort and Call.
type Frame struct {
	Kind       Kind
	Job        string
	Generation uint64
	// Call counts the all-reduce calls made on the ring, from 0. In an
	// abort it is how many calls the sender had completed.
	Call uint64
	// Step is 0 .. N-2 in the reduce-scatter and N-1 .. 2N-3 in the
	// all-gather.
	Step int
	// Offset is the index of Data[0] in the whole buffer; Total is the
	// length of the whole buffer.
	Offset, Total int
	// Weight is, during the reduce-scatter, one member's weight on its way
	// round the ring.
	Weight float64
	// Precision is the type of the payload's values.
	Precision Precision
	// Data is the payload of a frame being sent. A received frame's payload
	// goes where the Sink says instead.
	Data Values
	// Abort names the member at fault. Its Addr may be empty: the ring fills
	// it in from its membership.
	Abort *PeerError
}

// A Sink decides where the payload of a received data frame goes. A Link
// calls Place with the frame's header and payload length before it reads
// any payload, so a frame of another ring is refused before it can write.
type Sink interface {
	// Place returns the destination of f's n values, of f.Precision, and
	// what to do there.
	Place(f *Frame, n int) (dst Values, op Op, err error)
}

// An Op says what becomes of a received payload at its destination.
type Op struct {
	// Add adds the payload to the destination (the reduce-scatter) rather
	// than copying it over it (the all-gather).
	Add bool
	// Weigh, with Add, first multiplies the destination by DstW and the
	// payload by SrcW: a member weighs its own values, and those of the
	// member that sent them at the first step, in the pass that adds them
	// rather than in a pass of its own.
	Weigh      bool
	DstW, SrcW float64
	// Scale, with Add, then multiplies each sum by K: the owner of a
	// segment turns its last partial sum into the mean in the same pass.
	Scale bool
	K     float64
	// Each product is rounded once, to the values' type; see applyFloats.
}

// A Link is one edge of a ring as one of its two ends sees it. Data,
// heartbeats and aborts flow forward, from rank r to rank r+1; only aborts
// flow back.
//
// Send is safe for concurrent use and returns once it no longer needs f,
// but for f.Data, which it may go on reading (to write it to the network
// without a copy) until Settle has reported true or Close has returned.
// Recv is called by one goroutine at a time, possibly while another
// goroutine is in Send or Close. Settle waits until no data of a frame sent
// so far is read any more, or until stop is closed, and reports whether
// the former. Close makes pending and later Send and Recv calls return; a
// frame already sent still reaches the other end if the other end can take
// it within a short grace period, so that an Abort sent just before Close
// is not lost. Close is idempotent.
type Link interface {
	Send(f *Frame) error
	Recv(f *Frame, s Sink) error
	Settle(stop <-chan struct{}) bool
	Close() error
}

// A Transport connects one member to its two neighbours when a ring forms.
//
// Connect returns once both links are open: prev from the member at rank
// m.Rank-1 and next to the member at m.Rank+1 (mod N). It must refuse a
// generation older than one already formed, locally or by the neighbour,
// with an error wrapping ErrGeneration. Connect is not called for a ring
// of one member.
type Transport interface {
	Connect(ctx context.Context, m Membership) (prev, next Link, err error)
}
