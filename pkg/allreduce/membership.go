package allreduce

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// maxJobLen bounds Membership.Job so that a chunk's header always fits the
// fixed scratch space its decoder reads it into.
const maxJobLen = 128

// Membership says who is in one ring. Every member forms the ring with the
// same Job, Generation and Addrs, and its own Rank.
type Membership struct {
	// Job names the training job; frames of other jobs are refused.
	Job string
	// Generation increases every time the membership changes; frames of
	// other generations are refused, and a ring cannot be formed with a
	// generation older than one its members have already formed.
	Generation uint64
	// Rank is this member's index in Addrs.
	Rank int
	// Addrs are the members' peer addresses in ring order: rank r sends to
	// rank r+1 and receives from rank r-1 (mod N).
	Addrs []string
	// IDs, when set, name the members in ring order as their TLS
	// certificates do (the common name): a transport running over TLS
	// refuses a neighbour whose certificate names another member, so that
	// no one can take a member's place in the ring by its address.
	IDs []string
}

// ID returns the identity of rank r, or "" when m names none.
func (m Membership) ID(r int) string {
	if len(m.IDs) == 0 {
		return ""
	}
	return m.IDs[r]
}

// Size returns the number of members.
func (m Membership) Size() int { return len(m.Addrs) }

// Prev returns the rank of m's predecessor, from which it receives.
func (m Membership) Prev() int { return m.neighbour(-1) }

// Next returns the rank of m's successor, to which it sends.
func (m Membership) Next() int { return m.neighbour(1) }

// neighbour returns the rank d places after m.Rank round the ring.
func (m Membership) neighbour(d int) int {
	n := m.Size()
	return ((m.Rank+d)%n + n) % n
}

// Validate reports whether m can form a ring.
func (m Membership) Validate() error {
	switch {
	case m.Job == "" || len(m.Job) > maxJobLen:
		return fmt.Errorf("allreduce: job %q must be 1 to %d bytes", m.Job, maxJobLen)
	case len(m.Addrs) == 0:
		return errors.New("allreduce: membership has no members")
	case m.Rank < 0 || m.Rank >= len(m.Addrs):
		return fmt.Errorf("allreduce: rank %d outside 0..%d", m.Rank, len(m.Addrs)-1)
	case len(m.IDs) != 0 && len(m.IDs) != len(m.Addrs):
		return fmt.Errorf("allreduce: %d IDs for %d members", len(m.IDs), len(m.Addrs))
	}
	seen := make(map[string]int, len(m.Addrs))
	for i, a := range m.Addrs {
		if a == "" {
			return fmt.Errorf("allreduce: rank %d has no address", i)
		}
		if j, dup := seen[a]; dup {
			return fmt.Errorf("allreduce: ranks %d and %d share address %s", j, i, a)
		}
		seen[a] = i
	}
	return nil
}

// Defaults for a Ring's options.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultChunkBytes = 256 << 10
	// MaxChunkBytes keeps every gRPC message far below gRPC's default 4 MiB
	// limit, whatever the buffer size.
	MaxChunkBytes = 2 << 20
)

// An Option configures a Ring.
type Option func(*options)

type options struct {
	timeout    time.Duration
	chunkBytes int
	log        *slog.Logger
}

func defaultOptions() options {
	return options{timeout: DefaultTimeout, chunkBytes: DefaultChunkBytes, log: slog.Default()}
}

func (o options) validate() error {
	if o.timeout <= 0 {
		return fmt.Errorf("allreduce: timeout %v must be positive", o.timeout)
	}
	if o.chunkBytes < 4 || o.chunkBytes > MaxChunkBytes || o.chunkBytes%4 != 0 {
		return fmt.Errorf("allreduce: chunk size %d must be a multiple of 4 in 4..%d", o.chunkBytes, MaxChunkBytes)
	}
	return nil
}

// heartbeat is how often a waiting member tells its successor it is alive:
// often enough that a healthy successor never comes near its timeout.
func (o options) heartbeat() time.Duration { return o.timeout / 4 }

// linger bounds how long a failing member waits for its abort messages to
// leave before it tears its links down.
func (o options) linger() time.Duration { return min(o.timeout/10, 250*time.Millisecond) }

// WithTimeout sets how long a member waits for its neighbours before it
// declares one of them unreachable (default DefaultTimeout). It also bounds
// how far apart members may enter the same call.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithChunkBytes sets the size of the pieces that segments are cut into
// (default DefaultChunkBytes, at most MaxChunkBytes): smaller chunks start
// the pipeline sooner, larger ones cost less per byte.
func WithChunkBytes(n int) Option { return func(o *options) { o.chunkBytes = n } }

// WithLogger sets the logger for ring events (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }
