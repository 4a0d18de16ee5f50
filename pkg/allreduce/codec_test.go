package allreduce

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// sinkFunc adapts a function to Sink.
type sinkFunc func(f *Frame, n int) ([]float32, bool, error)

func (s sinkFunc) Place(f *Frame, n int) ([]float32, bool, error) { return s(f, n) }

// split cuts b into buffers of the given sizes, cycling, as gRPC's reader
// may: a float can straddle two buffers.
func split(b []byte, sizes ...int) mem.BufferSlice {
	var out mem.BufferSlice
	for i := 0; len(b) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(b))
		out = append(out, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return out
}

func testFrame(n int) *Frame {
	f := &Frame{Kind: KindData, Job: "job-7", Generation: 1 << 40, Call: 12, Step: 3, Offset: 1000, Total: 5000, Weight: 2.5}
	for i := range n {
		f.Data = append(f.Data, float32(i)-0.5)
	}
	return f
}

// TestChunkIsLinkRequest checks the hand-written encoder against the
// generated code: a chunk is an ordinary LinkRequest.
func TestChunkIsLinkRequest(t *testing.T) {
	f := testFrame(33)
	b := appendChunk(nil, f)
	if len(b) != chunkSize(f) {
		t.Fatalf("chunkSize %d, encoded %d bytes", chunkSize(f), len(b))
	}
	var req ringtrainv1.LinkRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	c := req.GetChunk()
	if c.GetJob() != f.Job || c.GetGeneration() != f.Generation || c.GetCall() != f.Call || c.GetStep() != uint32(f.Step) ||
		c.GetOffset() != uint64(f.Offset) || c.GetTotal() != uint64(f.Total) || c.GetWeight() != f.Weight {
		t.Fatalf("decoded %v, want the fields of %+v", c, f)
	}
	var want []byte
	for _, v := range f.Data {
		want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
	}
	if !bytes.Equal(c.GetData(), want) {
		t.Fatalf("data: got %x want %x", c.GetData(), want)
	}
	if len(c.GetPad()) > 3 || len(req.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("pad of %d bytes, unknown fields %x", len(c.GetPad()), req.ProtoReflect().GetUnknown())
	}
}

// TestChunkAlignment checks that the bytes before the payload are 3 mod 4
// long, so that the payload is 4-aligned after gRPC's 5-byte prefix.
func TestChunkAlignment(t *testing.T) {
	misses, total := 0, 0
	data := make([]float32, 70_000)
	for n := 0; n < len(data); n += 7 {
		f := &Frame{Kind: KindData, Job: "j", Generation: uint64(n) * 977, Offset: n * 31, Total: n * 61, Data: data[:n]}
		if head := chunkSize(f) - 4*n; head%4 != 3 {
			misses++
		}
		total++
	}
	// Only where the length's varint grows with the pad.
	if misses > total/1000 {
		t.Errorf("%d of %d chunks unaligned", misses, total)
	}
}

func TestDecodeChunk(t *testing.T) {
	f := testFrame(101)
	// What the generated code writes, without a pad, decodes too.
	var data []byte
	for _, v := range f.Data {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	generated, err := proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Chunk{Chunk: &ringtrainv1.Chunk{
		Job: f.Job, Generation: f.Generation, Call: f.Call, Step: uint32(f.Step), Offset: uint64(f.Offset),
		Total: uint64(f.Total), Weight: f.Weight, Data: data,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, wire := range map[string][]byte{"ours": appendChunk(nil, f), "generated": generated} {
		for _, sizes := range [][]int{{1 << 20}, {1}, {3, 5, 7}, {16379, 16384}} {
			for _, add := range []bool{false, true} {
				dst := make([]float32, len(f.Data))
				for i := range dst {
					dst[i] = 1
				}
				var got Frame
				d := frameDecoder{f: &got, linkJob: f.Job, sink: sinkFunc(func(g *Frame, n int) ([]float32, bool, error) {
					if n != len(f.Data) {
						t.Fatalf("%s: Place with %d values, want %d", name, n, len(f.Data))
					}
					return dst, add, nil
				})}
				if err := d.decode(split(wire, sizes...)); err != nil {
					t.Fatalf("%s %v: %v", name, sizes, err)
				}
				if got.Job != f.Job || got.Generation != f.Generation || got.Call != f.Call || got.Step != f.Step ||
					got.Offset != f.Offset || got.Total != f.Total || got.Weight != f.Weight {
					t.Fatalf("%s %v: header %+v, want %+v", name, sizes, got, f)
				}
				for i, v := range f.Data {
					want := v
					if add {
						want++
					}
					if dst[i] != want {
						t.Fatalf("%s %v add=%v: element %d is %v, want %v", name, sizes, add, i, dst[i], want)
					}
				}
			}
		}
	}
}

// TestDecodeRefused checks that a refused or malformed chunk leaves the
// destination untouched.
func TestDecodeRefused(t *testing.T) {
	f := testFrame(8)
	wire := appendChunk(nil, f)
	dst := make([]float32, 8)
	refuse := sinkFunc(func(*Frame, int) ([]float32, bool, error) { return nil, false, ErrGeneration })
	accept := sinkFunc(func(*Frame, int) ([]float32, bool, error) { return dst, false, nil })
	for name, c := range map[string]struct {
		wire []byte
		sink Sink
		want error
	}{
		"refused":   {wire, refuse, ErrGeneration},
		"truncated": {wire[:len(wire)-1], accept, ErrProtocol},
		"no sink":   {wire, nil, ErrProtocol},
		"garbage":   {[]byte{0x12, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff}, accept, ErrProtocol},
	} {
		var got Frame
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
	abort := &Frame{Kind: KindAbort, Job: "j", Generation: 3, Abort: &PeerError{Rank: 2, Reporter: 1,
		Err: &remoteError{sentinel: ErrTimeout, text: "allreduce: peer timed out: nothing received for 5s"}}}
	wire, err := proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Abort{Abort: abortProto(abort)}})
	if err != nil {
		t.Fatal(err)
	}
	var got Frame
	d := frameDecoder{f: &got}
	if err := d.decode(split(wire, 5)); err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindAbort || got.Abort.Rank != 2 || got.Abort.Reporter != 1 || !errors.Is(got.Abort, ErrTimeout) ||
		got.Abort.Err.Error() != abort.Abort.Err.Error() {
		t.Fatalf("got %+v (%v), want %+v", got, got.Abort, abort)
	}
	wire, err = proto.Marshal(&ringtrainv1.LinkRequest{Frame: &ringtrainv1.LinkRequest_Heartbeat{
		Heartbeat: &ringtrainv1.Heartbeat{Job: "j", Generation: 3, Call: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.decode(split(wire, 1)); err != nil || got.Kind != KindHeartbeat || got.Call != 9 {
		t.Fatalf("heartbeat: got %+v, %v", got, err)
	}
}

// TestReasons keeps the wire's AbortReason and the sentinels in step.
func TestReasons(t *testing.T) {
	for i, s := range sentinels {
		name := ringtrainv1.AbortReason(i + 1).String()
		if reasonOf(s) != int32(i+1) || name == "" || name == "ABORT_REASON_UNSPECIFIED" {
			t.Errorf("sentinel %v: reason %d (%s)", s, reasonOf(s), name)
		}
	}
	if n := len(ringtrainv1.AbortReason_name); n != len(sentinels)+1 {
		t.Errorf("%d reasons on the wire, %d sentinels", n-1, len(sentinels))
	}
}

func BenchmarkDecodeChunk(b *testing.B) {
	f := testFrame(DefaultChunkBytes / 4)
	// As gRPC delivers it: the first buffer after the 5-byte prefix, then
	// 16 KiB frames.
	// After gRPC's 5-byte prefix in an aligned buffer.
	wire := appendChunk(make([]byte, 5, 5+chunkSize(f)), f)[5:]
	bufs := split(wire, 16384-5, 16384)
	dst := make([]float32, len(f.Data))
	var got Frame
	d := frameDecoder{f: &got, linkJob: f.Job, sink: sinkFunc(func(*Frame, int) ([]float32, bool, error) { return dst, true, nil })}
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if err := d.decode(bufs); err != nil {
			b.Fatal(err)
		}
	}
}
