package grpcnet

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// codecName is the gRPC content-subtype of ring links. Its codec writes and
// reads chunks itself, float32 payload as raw bytes, straight between the
// caller's buffer and gRPC's; the bytes are still a valid LinkRequest, so
// any protobuf tool can read them. Other messages go through proto.
const codecName = "ringtrain-raw"

func init() { encoding.RegisterCodecV2(codec{}) }

// Field numbers of peer.proto that the chunk encoder writes by hand;
// codec_test.go checks them against the generated code.
const (
	fieldRequestChunk = 2
	fieldJob          = 1
	fieldGeneration   = 2
	fieldCall         = 3
	fieldStep         = 4
	fieldOffset       = 5
	fieldTotal        = 6
	fieldWeight       = 7
	fieldPrecision    = 8
	fieldPad          = 14
	fieldData         = 15
)

// maxHeader bounds the bytes before a chunk's payload (the job name is at
// most maxJobLen bytes).
const maxHeader = 256

type codec struct{}

func (codec) Name() string { return codecName }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *encodedChunk:
		return m.bufs, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("allreduce: codec cannot marshal %T", v)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *frameDecoder:
		return m.decode(data)
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("allreduce: codec cannot unmarshal into %T", v)
}

// encodedChunk is a chunk ready for SendMsg.
type encodedChunk struct{ bufs mem.BufferSlice }

// chunkLayout returns the length of the Chunk message's fields before its
// payload of n bytes, and the pad (-1 for none) that makes the LinkRequest's
// bytes before the payload, plus gRPC's 5-byte message prefix, a multiple of
// the value size: the payload then starts aligned in the receiver's first
// buffer, and every later 16 KiB HTTP/2 frame holds whole values.
func chunkLayout(f *allreduce.Frame, n int) (head, pad int) {
	size := f.Precision.Size()
	fixed := protowire.SizeTag(fieldJob) + protowire.SizeBytes(len(f.Job)) +
		protowire.SizeTag(fieldGeneration) + protowire.SizeVarint(f.Generation) +
		protowire.SizeTag(fieldCall) + protowire.SizeVarint(f.Call) +
		protowire.SizeTag(fieldStep) + protowire.SizeVarint(uint64(f.Step)) +
		protowire.SizeTag(fieldOffset) + protowire.SizeVarint(uint64(f.Offset)) +
		protowire.SizeTag(fieldTotal) + protowire.SizeVarint(uint64(f.Total)) +
		protowire.SizeTag(fieldWeight) + 8 +
		protowire.SizeTag(fieldData) + protowire.SizeVarint(uint64(n))
	if f.Precision != allreduce.Float32 {
		fixed += protowire.SizeTag(fieldPrecision) + protowire.SizeVarint(uint64(f.Precision))
	}
	for pad := -1; pad < size; pad++ {
		head = fixed
		if pad >= 0 {
			head += protowire.SizeTag(fieldPad) + protowire.SizeBytes(pad)
		}
		if (protowire.SizeTag(fieldRequestChunk)+protowire.SizeVarint(uint64(head+n))+head+grpcPrefix)%size == 0 {
			return head, pad
		}
	}
	// Only when the length's varint grows with the pad; the decoder copes
	// with any alignment, a little slower.
	return fixed, -1
}

// appendChunk appends f to b as a LinkRequest: header, then payload.
func appendChunk(b []byte, f *allreduce.Frame) []byte {
	return f.Data.AppendWire(appendChunkHeader(b, f))
}

// appendChunkHeader appends the bytes of f's LinkRequest that come before
// its payload.
func appendChunkHeader(b []byte, f *allreduce.Frame) []byte {
	n := f.Precision.Size() * f.Data.Len()
	head, pad := chunkLayout(f, n)
	b = protowire.AppendTag(b, fieldRequestChunk, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(head+n))
	b = protowire.AppendTag(b, fieldJob, protowire.BytesType)
	b = protowire.AppendString(b, f.Job)
	b = protowire.AppendTag(b, fieldGeneration, protowire.VarintType)
	b = protowire.AppendVarint(b, f.Generation)
	b = protowire.AppendTag(b, fieldCall, protowire.VarintType)
	b = protowire.AppendVarint(b, f.Call)
	b = protowire.AppendTag(b, fieldStep, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(f.Step))
	b = protowire.AppendTag(b, fieldOffset, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(f.Offset))
	b = protowire.AppendTag(b, fieldTotal, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(f.Total))
	b = protowire.AppendTag(b, fieldWeight, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(f.Weight))
	if f.Precision != allreduce.Float32 {
		b = protowire.AppendTag(b, fieldPrecision, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(f.Precision))
	}
	if pad >= 0 {
		b = protowire.AppendTag(b, fieldPad, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(pad))
		b = append(b, zeros[:pad]...)
	}
	b = protowire.AppendTag(b, fieldData, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// chunkSize is the length of f encoded by appendChunk.
func chunkSize(f *allreduce.Frame) int {
	n := f.Precision.Size() * f.Data.Len()
	head, _ := chunkLayout(f, n)
	return protowire.SizeTag(fieldRequestChunk) + protowire.SizeVarint(uint64(head+n)) + head + n
}

var zeros [7]byte

// grpcPrefix is the length of gRPC's message prefix: a flag and a length.
const grpcPrefix = 5

// frameDecoder decodes what a ring link receives into f: chunks by hand,
// straight into the sink's destination, anything else through proto.
type frameDecoder struct {
	f       *allreduce.Frame
	sink    allreduce.Sink
	linkJob string
	// err keeps the decoder's error with its type: gRPC flattens an
	// Unmarshal error into a status.
	err error
	req ringtrainv1.LinkRequest
	hdr [maxHeader]byte
}

func (d *frameDecoder) decode(data mem.BufferSlice) error {
	d.err = nil
	h := d.hdr[:prefix(d.hdr[:], data)]
	num, typ, n := protowire.ConsumeTag(h)
	if n > 0 && num == fieldRequestChunk && typ == protowire.BytesType {
		d.err = d.decodeChunk(data, h, n)
		return d.err
	}
	d.req.Reset()
	if err := proto.Unmarshal(data.Materialize(), &d.req); err != nil {
		d.err = fmt.Errorf("%w: %v", allreduce.ErrProtocol, err)
		return d.err
	}
	d.err = requestFrame(&d.req, d.f)
	return d.err
}

// prefix copies the first bytes of data into dst.
func prefix(dst []byte, data mem.BufferSlice) int {
	n := 0
	for _, b := range data {
		n += copy(dst[n:], b.ReadOnlyData())
		if n == len(dst) {
			break
		}
	}
	return n
}

var errChunkHeader = fmt.Errorf("%w: malformed chunk header", allreduce.ErrProtocol)

// decodeChunk parses the chunk header in h, which starts with the outer tag
// of n bytes, asks the sink where the payload goes and puts it there.
func (d *frameDecoder) decodeChunk(data mem.BufferSlice, h []byte, n int) error {
	total := data.Len()
	body, m := protowire.ConsumeVarint(h[n:])
	if m < 0 || uint64(total) != uint64(n+m)+body {
		return errChunkHeader
	}
	f := d.f
	*f = allreduce.Frame{Kind: allreduce.KindData}
	off := n + m
	for {
		num, typ, k := protowire.ConsumeTag(h[off:])
		if k < 0 {
			return errChunkHeader
		}
		off += k
		if num == fieldData && typ == protowire.BytesType {
			size, k := protowire.ConsumeVarint(h[off:])
			width := uint64(f.Precision.Size())
			if k < 0 || uint64(total-off-k) != size || size%width != 0 {
				return errChunkHeader
			}
			off += k
			if d.sink == nil {
				return fmt.Errorf("%w: data frame on a link that carries none", allreduce.ErrProtocol)
			}
			dst, op, err := d.sink.Place(f, int(size/width))
			if err != nil {
				return err
			}
			place(dst, op, data, off, int(width))
			return nil
		}
		switch {
		case num == fieldJob && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(h[off:])
			if k < 0 {
				return errChunkHeader
			}
			off += k
			f.Job = d.job(v)
			continue
		case num == fieldWeight && typ == protowire.Fixed64Type:
			v, k := protowire.ConsumeFixed64(h[off:])
			if k < 0 {
				return errChunkHeader
			}
			off += k
			f.Weight = math.Float64frombits(v)
			continue
		case typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(h[off:])
			if k < 0 || v > math.MaxInt && num != fieldGeneration && num != fieldCall {
				return errChunkHeader
			}
			off += k
			switch num {
			case fieldGeneration:
				f.Generation = v
			case fieldCall:
				f.Call = v
			case fieldStep:
				f.Step = int(v)
			case fieldOffset:
				f.Offset = int(v)
			case fieldTotal:
				f.Total = int(v)
			case fieldPrecision:
				if v > uint64(allreduce.Float64) {
					return fmt.Errorf("%w: unknown precision %d", allreduce.ErrProtocol, v)
				}
				f.Precision = allreduce.Precision(v)
			}
			continue
		}
		k = protowire.ConsumeFieldValue(num, typ, h[off:]) // the pad, or a newer field
		if k < 0 {
			return errChunkHeader
		}
		off += k
	}
}

// job returns v as a string, without allocating when it is the link's.
func (d *frameDecoder) job(v []byte) string {
	if string(v) == d.linkJob {
		return d.linkJob
	}
	return string(v)
}

// place applies op to dst with the payload of values of size bytes, which
// starts off bytes into data. A value may straddle two of gRPC's buffers.
func place(dst allreduce.Values, op allreduce.Op, data mem.BufferSlice, off, size int) {
	var carry [8]byte
	nc, i := 0, 0
	for _, buf := range data {
		b := buf.ReadOnlyData()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		b, off = b[off:], 0
		if nc > 0 {
			k := copy(carry[nc:size], b)
			nc += k
			b = b[k:]
			if nc < size {
				continue
			}
			dst.Slice(i, i+1).ApplyWire(carry[:size], op)
			i, nc = i+1, 0
		}
		whole := len(b) / size
		dst.Slice(i, i+whole).ApplyWire(b[:size*whole], op)
		i += whole
		nc = copy(carry[:], b[size*whole:])
	}
}

// requestFrame converts a LinkRequest other than a chunk into f.
func requestFrame(req *ringtrainv1.LinkRequest, f *allreduce.Frame) error {
	switch x := req.Frame.(type) {
	case *ringtrainv1.LinkRequest_Heartbeat:
		*f = allreduce.Frame{Kind: allreduce.KindHeartbeat, Job: x.Heartbeat.Job, Generation: x.Heartbeat.Generation, Call: x.Heartbeat.Call}
	case *ringtrainv1.LinkRequest_Abort:
		allreduce.AbortFrame(x.Abort, f)
	default:
		return fmt.Errorf("%w: unexpected %T on an open link", allreduce.ErrProtocol, req.Frame)
	}
	return nil
}

var errNotData = errors.New("allreduce: only aborts go back along a link")
