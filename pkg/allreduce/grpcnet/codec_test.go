package grpcnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// sinkFunc adapts a function to Sink.
type sinkFunc func(f *allreduce.Frame, n int) (allreduce.Values, allreduce.Op, error)

func (s sinkFunc) Place(f *allreduce.Frame, n int) (allreduce.Values, allreduce.Op, error) {
	return s(f, n)
}

// decodeOps are the ops a decoded chunk is checked under: a copy, an add,
// adds whose sums are then scaled by a factor exact in float32 and by one
// that is not, and weighted adds, with weights of both kinds, with and
// without the scaling.
var decodeOps = []allreduce.Op{
	{},
	{Add: true},
	{Add: true, Scale: true, K: 0.25},
	{Add: true, Scale: true, K: 1.0 / 3},
	{Add: true, Weigh: true, DstW: 64, SrcW: 0.3},
	{Add: true, Weigh: true, DstW: 0.1, SrcW: 1, Scale: true, K: 1.0 / 3},
	{Add: true, Weigh: true, DstW: 3, SrcW: 5, Scale: true, K: 0.125},
}

// sameBits reports whether a and b hold the same bits: unlike ==, it tells
// -0 from 0 and a NaN equals itself.
func sameBits(a, b allreduce.Values) bool {
	return slices.EqualFunc(a.F32, b.F32, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) &&
		slices.EqualFunc(a.F64, b.F64, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// unfused computes what op leaves in dst the way the ring did before the
// products were fused into the adds: a pass for each product, then a pass
// for the sums, then one for the scaling.
func unfused(dst, src allreduce.Values, op allreduce.Op) allreduce.Values {
	want := allreduce.Values{F32: slices.Clone(dst.F32), F64: slices.Clone(dst.F64)}
	if !op.Add {
		copy(want.F32, src.F32)
		copy(want.F64, src.F64)
		return want
	}
	in := allreduce.Values{F32: slices.Clone(src.F32), F64: slices.Clone(src.F64)}
	if op.Weigh {
		scaleRef(want, op.DstW)
		scaleRef(in, op.SrcW)
	}
	for i := range want.F32 {
		want.F32[i] += in.F32[i]
	}
	for i := range want.F64 {
		want.F64[i] += in.F64[i]
	}
	if op.Scale {
		scaleRef(want, op.K)
	}
	return want
}

// scaleRef multiplies v by k, rounding each product once: float32 values
// are multiplied in float32 if k is a float32, and in float64 otherwise.
func scaleRef(v allreduce.Values, k float64) {
	for i, x := range v.F32 {
		if k32 := float32(k); float64(k32) == k {
			v.F32[i] = float32(x * k32)
		} else {
			v.F32[i] = float32(float64(x) * k)
		}
	}
	for i, x := range v.F64 {
		v.F64[i] = x * k
	}
}

// split cuts b into buffers of the given sizes, cycling, as gRPC's reader
// may: a value can straddle two buffers.
func split(b []byte, sizes ...int) mem.BufferSlice {
	var out mem.BufferSlice
	for i := 0; len(b) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(b))
		out = append(out, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return out
}

var precisions = []allreduce.Precision{allreduce.Float32, allreduce.Float64}

func testFrame(n int, prec allreduce.Precision) *allreduce.Frame {
	f := &allreduce.Frame{Kind: allreduce.KindData, Job: "job-7", Generation: 1 << 40, Call: 12, Step: 3, Offset: 1000, Total: 5000, Weight: 2.5, Precision: prec}
	for i := range n {
		// Not exact in float32: float64 payloads must keep every bit.
		v := float64(i) - 0.5 + 1e-12
		if prec == allreduce.Float64 {
			f.Data.F64 = append(f.Data.F64, v)
		} else {
			f.Data.F32 = append(f.Data.F32, float32(v))
		}
	}
	return f
}

// wire returns f's payload as the wire carries it: little-endian IEEE 754.
func wire(f *allreduce.Frame) []byte {
	var b []byte
	for _, v := range f.Data.F32 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	for _, v := range f.Data.F64 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func valuesLike(f *allreduce.Frame, fill float64) allreduce.Values {
	var v allreduce.Values
	for range f.Data.Len() {
		if f.Precision == allreduce.Float64 {
			v.F64 = append(v.F64, fill)
		} else {
			v.F32 = append(v.F32, float32(fill))
		}
	}
	return v
}

// TestChunkIsLinkRequest checks the hand-written encoder against the
// generated code: a chunk is an ordinary LinkRequest.
func TestChunkIsLinkRequest(t *testing.T) {
	for _, prec := range precisions {
		f := testFrame(33, prec)
		b := appendChunk(nil, f)
		if len(b) != chunkSize(f) {
			t.Fatalf("%s: chunkSize %d, encoded %d bytes", prec, chunkSize(f), len(b))
		}
		var req ringtrainv1.LinkRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		c := req.GetChunk()
		if c.GetJob() != f.Job || c.GetGeneration() != f.Generation || c.GetCall() != f.Call || c.GetStep() != uint32(f.Step) ||
			c.GetOffset() != uint64(f.Offset) || c.GetTotal() != uint64(f.Total) || c.GetWeight() != f.Weight ||
			c.GetPrecision() != ringtrainv1.Precision(prec) {
			t.Fatalf("%s: decoded %v, want the fields of %+v", prec, c, f)
		}
		if want := wire(f); !bytes.Equal(c.GetData(), want) {
			t.Fatalf("%s: data: got %x want %x", prec, c.GetData(), want)
		}
		if len(c.GetPad()) >= prec.Size() || len(req.ProtoReflect().GetUnknown()) != 0 {
			t.Fatalf("%s: pad of %d bytes, unknown fields %x", prec, len(c.GetPad()), req.ProtoReflect().GetUnknown())
		}
	}
}

// TestChunkAlignment checks that the payload starts aligned to its values'
// size after gRPC's 5-byte prefix.
func TestChunkAlignment(t *testing.T) {
	for _, prec := range precisions {
		misses, total := 0, 0
		for n := 0; n < 70_000; n += 7 {
			f := &allreduce.Frame{Kind: allreduce.KindData, Job: "j", Generation: uint64(n) * 977, Offset: n * 31, Total: n * 61, Precision: prec,
				Data: allreduce.Values{F32: make([]float32, n)}}
			if prec == allreduce.Float64 {
				f.Data = allreduce.Values{F64: make([]float64, n)}
			}
			if head := chunkSize(f) - prec.Size()*n; (head+grpcPrefix)%prec.Size() != 0 {
				misses++
			}
			total++
		}
		// Only where the length's varint grows with the pad.
		if misses > total/1000 {
			t.Errorf("%s: %d of %d chunks unaligned", prec, misses, total)
		}
	}
}

func TestDecodeChunk(t *testing.T) {
	for _, prec := range precisions {
		f := testFrame(101, prec)
		// What the generated code writes, without a pad, decodes too.
		generated, err := proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Chunk{Chunk: &ringtrainv1.Chunk{
			Job: f.Job, Generation: f.Generation, Call: f.Call, Step: uint32(f.Step), Offset: uint64(f.Offset),
			Total: uint64(f.Total), Weight: f.Weight, Precision: ringtrainv1.Precision(prec), Data: wire(f),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range map[string][]byte{"ours": appendChunk(nil, f), "generated": generated} {
			for _, sizes := range [][]int{{1 << 20}, {1}, {3, 5, 7}, {16379, 16384}} {
				for _, op := range decodeOps {
					dst := valuesLike(f, 1)
					want := unfused(dst, f.Data, op)
					var got allreduce.Frame
					d := frameDecoder{f: &got, linkJob: f.Job, sink: sinkFunc(func(g *allreduce.Frame, n int) (allreduce.Values, allreduce.Op, error) {
						if n != f.Data.Len() || g.Precision != prec {
							t.Fatalf("%s %s: Place with %d values of %s, want %d of %s", prec, name, n, g.Precision, f.Data.Len(), prec)
						}
						return dst, op, nil
					})}
					if err := d.decode(split(w, sizes...)); err != nil {
						t.Fatalf("%s %s %v: %v", prec, name, sizes, err)
					}
					if got.Job != f.Job || got.Generation != f.Generation || got.Call != f.Call || got.Step != f.Step ||
						got.Offset != f.Offset || got.Total != f.Total || got.Weight != f.Weight || got.Precision != prec {
						t.Fatalf("%s %s %v: header %+v, want %+v", prec, name, sizes, got, f)
					}
					if !sameBits(dst, want) {
						t.Fatalf("%s %s %v %+v: got %v, want %v", prec, name, sizes, op, dst, want)
					}
				}
			}
		}
	}
}

// TestDecodeRefused checks that a refused or malformed chunk leaves the
// destination untouched.
func TestDecodeRefused(t *testing.T) {
	f := testFrame(8, allreduce.Float32)
	wire := appendChunk(nil, f)
	dst := make([]float32, 8)
	refuse := sinkFunc(func(*allreduce.Frame, int) (allreduce.Values, allreduce.Op, error) {
		return allreduce.Values{}, allreduce.Op{}, allreduce.ErrGeneration
	})
	accept := sinkFunc(func(*allreduce.Frame, int) (allreduce.Values, allreduce.Op, error) {
		return allreduce.Values{F32: dst}, allreduce.Op{}, nil
	})
	unknown, err := proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Chunk{Chunk: &ringtrainv1.Chunk{
		Job: f.Job, Total: 8, Precision: 7, Data: make([]byte, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		wire []byte
		sink allreduce.Sink
		want error
	}{
		"refused":   {wire, refuse, allreduce.ErrGeneration},
		"truncated": {wire[:len(wire)-1], accept, allreduce.ErrProtocol},
		"no sink":   {wire, nil, allreduce.ErrProtocol},
		"garbage":   {[]byte{0x12, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff}, accept, allreduce.ErrProtocol},
		"precision": {unknown, accept, allreduce.ErrProtocol},
	} {
		var got allreduce.Frame
		d := frameDecoder{f: &got, sink: c.sink}
		if err := d.decode(split(c.wire, 7)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
		for i, v := range dst {
			if v != 0 {
				t.Fatalf("%s: element %d written", name, i)
			}
		}
	}
}

func TestDecodeAbortAndHeartbeat(t *testing.T) {
	abort := &allreduce.Frame{Kind: allreduce.KindAbort, Job: "j", Generation: 3, Abort: &allreduce.PeerError{Rank: 2, Reporter: 1,
		Err: fmt.Errorf("%w: nothing received for 5s", allreduce.ErrTimeout)}}
	wire, err := proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Abort{Abort: allreduce.AbortMessage(abort)}})
	if err != nil {
		t.Fatal(err)
	}
	var got allreduce.Frame
	d := frameDecoder{f: &got}
	if err := d.decode(split(wire, 5)); err != nil {
		t.Fatal(err)
	}
	if got.Kind != allreduce.KindAbort || got.Abort.Rank != 2 || got.Abort.Reporter != 1 || !errors.Is(got.Abort, allreduce.ErrTimeout) ||
		got.Abort.Err.Error() != abort.Abort.Err.Error() {
		t.Fatalf("got %+v (%v), want %+v", got, got.Abort, abort)
	}
	wire, err = proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Heartbeat{
		Heartbeat: &ringtrainv1.Heartbeat{Job: "j", Generation: 3, Call: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.decode(split(wire, 1)); err != nil || got.Kind != allreduce.KindHeartbeat || got.Call != 9 {
		t.Fatalf("heartbeat: got %+v, %v", got, err)
	}
}

// BenchmarkDecodeChunk decodes a 256 KiB chunk as gRPC delivers it into
// place, under the ops a ring applies: add, the last add of a mean, and
// both with integer weights, as training's calls have them (weigh, at a
// step's first chunk, is what a weighted call adds on top of the pass it
// saves: before the weights were fused into the adds, a weighted call
// spent a pass over the whole buffer multiplying it by its weight).
func BenchmarkDecodeChunk(b *testing.B) {
	ops := []struct {
		name string
		op   allreduce.Op
	}{
		{"add", allreduce.Op{Add: true}},
		{"add-mean", allreduce.Op{Add: true, Scale: true, K: 1.0 / 3}},
		{"weigh", allreduce.Op{Add: true, Weigh: true, DstW: 64, SrcW: 65}},
		{"weigh-mean", allreduce.Op{Add: true, Weigh: true, DstW: 64, SrcW: 65, Scale: true, K: 1.0 / 129}},
	}
	for _, prec := range precisions {
		for _, o := range ops {
			b.Run(prec.String()+"/"+o.name, func(b *testing.B) {
				f := testFrame(allreduce.DefaultChunkBytes/prec.Size(), prec)
				// As gRPC delivers it: after the 5-byte prefix in an aligned
				// buffer, then 16 KiB frames.
				wire := appendChunk(make([]byte, grpcPrefix, grpcPrefix+chunkSize(f)), f)[grpcPrefix:]
				bufs := split(wire, 16384-grpcPrefix, 16384)
				dst := valuesLike(f, 0)
				var got allreduce.Frame
				d := frameDecoder{f: &got, linkJob: f.Job, sink: sinkFunc(func(*allreduce.Frame, int) (allreduce.Values, allreduce.Op, error) { return dst, o.op, nil })}
				b.SetBytes(int64(len(wire)))
				for b.Loop() {
					if err := d.decode(bufs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
