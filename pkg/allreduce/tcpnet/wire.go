package tcpnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// A frame on the wire is a fixed header, little-endian, then its payload:
//
//	0  kind       u8     allreduce.Kind
//	1  precision  u8     allreduce.Precision of a data frame's values
//	2  reserved   u16
//	4  step       u32
//	8  length     u32    payload bytes
//	12 reserved   u32
//	16 call       u64
//	24 offset     u64    index of the payload's first value in the buffer
//	32 total      u64    length of the whole buffer, in values
//	40 weight     f64
//
// A data frame's payload is its values, little-endian IEEE 754; an abort's
// is the protobuf Abort of proto/ringtrain/v1/peer.proto; a heartbeat has
// none. Job and generation are the connection's, fixed by its hello.
const headerSize = 48

// maxAbort bounds an abort's payload: its detail is one error's text.
const maxAbort = 64 << 10

func putHeader(h *[headerSize]byte, f *allreduce.Frame, length int) {
	*h = [headerSize]byte{}
	h[0] = byte(f.Kind)
	h[1] = byte(f.Precision)
	binary.LittleEndian.PutUint32(h[4:], uint32(f.Step))
	binary.LittleEndian.PutUint32(h[8:], uint32(length))
	binary.LittleEndian.PutUint64(h[16:], f.Call)
	binary.LittleEndian.PutUint64(h[24:], uint64(f.Offset))
	binary.LittleEndian.PutUint64(h[32:], uint64(f.Total))
	binary.LittleEndian.PutUint64(h[40:], math.Float64bits(f.Weight))
}

// parseHeader sets f from h, with the link's job and generation, and
// returns the payload's length.
func parseHeader(h *[headerSize]byte, f *allreduce.Frame, job string, gen uint64) (int, error) {
	offset := binary.LittleEndian.Uint64(h[24:])
	total := binary.LittleEndian.Uint64(h[32:])
	if offset > math.MaxInt || total > math.MaxInt {
		return 0, fmt.Errorf("%w: frame at %d of %d values", allreduce.ErrProtocol, offset, total)
	}
	*f = allreduce.Frame{
		Kind:       allreduce.Kind(h[0]),
		Precision:  allreduce.Precision(h[1]),
		Job:        job,
		Generation: gen,
		Step:       int(binary.LittleEndian.Uint32(h[4:])),
		Call:       binary.LittleEndian.Uint64(h[16:]),
		Offset:     int(offset),
		Total:      int(total),
		Weight:     math.Float64frombits(binary.LittleEndian.Uint64(h[40:])),
	}
	return int(binary.LittleEndian.Uint32(h[8:])), nil
}

// A connection opens with a hello from the member that dialled it, its
// predecessor in the ring, before any frame:
//
//	0  magic      "RTDP"
//	4  version    u8     helloVersion
//	5  job length u8
//	6  reserved   u16
//	8  generation u64
//	16 from rank  u32
//	20 to rank    u32
//	24 secret     32 bytes, from the successor's TCPOffer
//	56 job
//
// The successor answers one byte, ackByte, once it has handed the
// connection to the ring; anything it refuses it closes without reading
// further.
const (
	helloSize    = 56
	helloVersion = 1
	secretSize   = 32
	ackByte      = 1
)

var helloMagic = [4]byte{'R', 'T', 'D', 'P'}

// hello is the opening of a connection.
type hello struct {
	job        string
	generation uint64
	from, to   uint32
	secret     [secretSize]byte
}

var errHello = errors.New("tcpnet: not a ringtrain data-plane hello")

func (h *hello) append(b []byte) []byte {
	b = append(b, helloMagic[:]...)
	b = append(b, helloVersion, byte(len(h.job)), 0, 0)
	b = binary.LittleEndian.AppendUint64(b, h.generation)
	b = binary.LittleEndian.AppendUint32(b, h.from)
	b = binary.LittleEndian.AppendUint32(b, h.to)
	b = append(b, h.secret[:]...)
	return append(b, h.job...)
}

// parseFixed reads the fixed part of a hello and returns the job's length.
func (h *hello) parseFixed(b *[helloSize]byte) (int, error) {
	if [4]byte(b[:4]) != helloMagic {
		return 0, errHello
	}
	if b[4] != helloVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", errHello, b[4], helloVersion)
	}
	h.generation = binary.LittleEndian.Uint64(b[8:])
	h.from = binary.LittleEndian.Uint32(b[16:])
	h.to = binary.LittleEndian.Uint32(b[20:])
	h.secret = [secretSize]byte(b[24:56])
	return int(b[5]), nil
}
