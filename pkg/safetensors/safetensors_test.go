package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	meta := map[string]string{"format": "test", "version": "1"}
	in := []Tensor{
		FromFloat32("w", []int{2, 3}, []float32{1, -2, 3.5, 0, 1e-30, -7}),
		FromFloat64("b", []int{2}, []float64{0.25, -1e300}),
		FromFloat32("empty", []int{0}, nil),
		FromUint8("px", []int{3}, []byte{0, 7, 255}),
		FromFloat32("after", []int{1}, []float32{2.5}), // follows 3 bytes: unaligned
	}
	var buf bytes.Buffer
	if err := Write(&buf, meta, in); err != nil {
		t.Fatal(err)
	}
	if m, err := Marshal(meta, in); err != nil || !bytes.Equal(m, buf.Bytes()) {
		t.Errorf("Marshal: %v, and its bytes equal Write's: %v", err, bytes.Equal(m, buf.Bytes()))
	}
	if hlen := binary.LittleEndian.Uint64(buf.Bytes()); (8+hlen)%8 != 0 {
		t.Errorf("data starts at %d, want a multiple of 8", 8+hlen)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "test" || f.Metadata["version"] != "1" {
		t.Errorf("metadata: got %v want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("got %d tensors want %d", len(f.Tensors), len(in))
	}
	for i, want := range in {
		got := f.Tensors[i]
		if got.Name != want.Name || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %d: got %s %s %v want %s %s %v", i, got.Name, got.DType, got.Data, want.Name, want.DType, want.Data)
		}
	}
	w, _ := f.Tensor("w")
	v, err := w.Float32s()
	if err != nil || v[2] != 3.5 || v[4] != 1e-30 {
		t.Errorf("w decoded to %v, %v", v, err)
	}
	if _, err := w.Float64s(); err == nil {
		t.Error("decoding F32 as F64: want error")
	}
	if _, err := w.Uint8s(); err == nil {
		t.Error("decoding F32 as U8: want error")
	}
	px, _ := f.Tensor("px")
	if b, err := px.Uint8s(); err != nil || !bytes.Equal(b, []byte{0, 7, 255}) {
		t.Errorf("px decoded to %v, %v", b, err)
	}
	after, _ := f.Tensor("after")
	if v, err := after.Float32s(); err != nil || len(v) != 1 || v[0] != 2.5 {
		t.Errorf("after decoded to %v, %v", v, err)
	}
	var again bytes.Buffer
	if err := Write(&again, meta, in); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("writing the same tensors twice gave different bytes")
	}
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name string
		ts   []Tensor
	}{
		{"size mismatch", []Tensor{{Name: "a", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}},
		{"unknown dtype", []Tensor{{Name: "a", DType: "BF16", Shape: []int{1}, Data: make([]byte, 2)}}},
		{"duplicate", []Tensor{FromFloat32("a", []int{1}, []float32{1}), FromFloat32("a", []int{1}, []float32{1})}},
		{"reserved name", []Tensor{FromFloat32("__metadata__", []int{1}, []float32{1})}},
	}
	for _, tc := range tests {
		if err := Write(&bytes.Buffer{}, nil, tc.ts); err == nil {
			t.Errorf("%s: got nil error", tc.name)
		}
	}
}

func TestReadRejectsCorrupt(t *testing.T) {
	var good bytes.Buffer
	if err := Write(&good, nil, []Tensor{FromFloat32("a", []int{4}, []float32{1, 2, 3, 4})}); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	header := func(js string) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
		return append(b, js...)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short length", g[:5]},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40)},
		{"truncated header", g[:12]},
		{"truncated data", g[:len(g)-1]},
		{"bad json", header("{not json")},
		{"offset past end", header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`)},
		{"shape mismatch", append(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`), 0, 0, 0, 0)},
		{"negative shape", append(header(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`), 0, 0, 0, 0)},
		// Shapes whose element count wraps round: 2^62+8 elements of 4
		// bytes are 32 bytes modulo 2^64, and 2^62·4 overflows an int.
		{"shape that wraps", append(header(`{"a":{"dtype":"F32","shape":[4611686018427387912,1],"data_offsets":[0,32]}}`), make([]byte, 32)...)},
		{"shape that overflows", header(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`)},
		// The tensors must tile the data.
		{"overlap", append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), 0, 0, 0, 0)},
		{"gap", append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), make([]byte, 8)...)},
		{"bytes after the data", append(header(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), make([]byte, 8)...)},
	}
	for _, tc := range tests {
		if _, err := Read(bytes.NewReader(tc.in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v want ErrFormat", tc.name, err)
		}
		if _, err := Parse(tc.in); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Parse: got %v want ErrFormat", tc.name, err)
		}
	}
}

// MarshalParts gives Marshal's bytes without copying a tensor's data.
func TestMarshalParts(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6}
	tensors := []Tensor{FromUint8("a", []int{2, 3}, data), FromFloat32("b", []int{2}, []float32{1.5, -2})}
	meta := map[string]string{"k": "v"}
	parts, err := MarshalParts(meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Marshal(meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(parts, nil), whole) {
		t.Error("the parts joined are not Marshal's bytes")
	}
	if len(parts) != 3 || &parts[1][0] != &data[0] {
		t.Errorf("%d parts; want the header and each tensor's own data", len(parts))
	}
}

// TestParseEmptyTensorFirst: an empty tensor may start where a full one
// does, whatever their names (Python's safetensors orders by dtype first).
func TestParseEmptyTensorFirst(t *testing.T) {
	js := `{"z":{"dtype":"F64","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	b := append(binary.LittleEndian.AppendUint64(nil, uint64(len(js))), js...)
	f, err := Parse(append(b, 0, 0, 128, 63))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := f.Tensor("a"); !ok || len(a.Data) != 4 {
		t.Errorf("tensor a: %v, %v", a, ok)
	}
}
