package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unsafe"
)

// DType names an element type as the format spells it.
type DType string

// Element types ringtrain writes.
const (
	F32 DType = "F32"
	F64 DType = "F64"
	I64 DType = "I64"
	U8  DType = "U8"
)

// Size returns the byte size of one element, or 0 for a type this package
// does not handle.
func (d DType) Size() int {
	switch d {
	case U8:
		return 1
	case F32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// maxHeader bounds the JSON header so that a corrupt length cannot make a
// reader allocate gigabytes.
const maxHeader = 100 << 20

// ErrFormat is wrapped by every error about malformed file contents.
var ErrFormat = errors.New("safetensors: malformed file")

// Tensor is one named array. Data holds its little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the decoded content of a safetensors file, tensors in file order.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

type entry struct {
	DType       DType  `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// Write encodes metadata and tensors to w.
func Write(w io.Writer, metadata map[string]string, tensors []Tensor) error {
	b, err := Marshal(metadata, tensors)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}

// Marshal returns the file Write writes, in one allocation of its size:
// checkpoints of millions of parameters are encoded every epoch.
func Marshal(metadata map[string]string, tensors []Tensor) ([]byte, error) {
	parts, err := MarshalParts(metadata, tensors)
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}

// MarshalParts returns Marshal's bytes as parts to be sent one after the
// other: the header, then each tensor's Data itself, not a copy. Streaming
// a large tensor so costs no copy of it.
func MarshalParts(metadata map[string]string, tensors []Tensor) ([][]byte, error) {
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	off := 0
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return nil, fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		if n, ok := elems(t.Shape); !ok || t.DType.Size() == 0 || n > len(t.Data)/t.DType.Size() || n*t.DType.Size() != len(t.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for dtype %s shape %v", t.Name, len(t.Data), t.DType, t.Shape)
		}
		header[t.Name] = entry{DType: t.DType, Shape: shapeOrEmpty(t.Shape), DataOffsets: [2]int{off, off + len(t.Data)}}
		off += len(t.Data)
	}
	js, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("safetensors: encode header: %w", err)
	}
	// The format pads the header with spaces so the data starts 8-aligned.
	pad := (8 - len(js)%8) % 8
	head := make([]byte, 8, 8+len(js)+pad)
	binary.LittleEndian.PutUint64(head, uint64(len(js)+pad))
	head = append(head, js...)
	head = append(head, "       "[:pad]...)
	parts := [][]byte{head}
	for _, t := range tensors {
		parts = append(parts, t.Data)
	}
	return parts, nil
}

// Read decodes a whole safetensors stream.
func Read(r io.Reader) (*File, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("safetensors: read: %w", err)
	}
	return Parse(b)
}

// Parse parses a whole file held in memory. Its tensors' Data are slices
// of b, not copies: b must not change while they are in use.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: header length: %d bytes", ErrFormat, len(b))
	}
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > maxHeader || hlen > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds %d or the %d bytes after it", ErrFormat, hlen, maxHeader, len(b)-8)
	}
	hdr, body := b[8:8+hlen], b[8+hlen:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("%w: header json: %v", ErrFormat, err)
	}
	f := &File{}
	spans := map[string][2]int{}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("%w: metadata: %v", ErrFormat, err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || end < b || end > len(body) {
			return nil, fmt.Errorf("%w: tensor %q: offsets [%d,%d] outside data of %d bytes", ErrFormat, name, b, end, len(body))
		}
		if n, ok := elems(e.Shape); !ok || e.DType.Size() == 0 || n > (end-b)/e.DType.Size() || n*e.DType.Size() != end-b {
			return nil, fmt.Errorf("%w: tensor %q: %d bytes for dtype %s shape %v", ErrFormat, name, end-b, e.DType, e.Shape)
		}
		spans[name] = [2]int{b, end}
		f.Tensors = append(f.Tensors, Tensor{Name: name, DType: e.DType, Shape: e.Shape, Data: body[b:end:end]})
	}
	// JSON objects are unordered; file order is the order of the data.
	// An empty tensor may start where a full one does: by end, then, as
	// the reference reader orders them.
	slices.SortFunc(f.Tensors, func(x, y Tensor) int {
		if c := spans[x.Name][0] - spans[y.Name][0]; c != 0 {
			return c
		}
		if c := spans[x.Name][1] - spans[y.Name][1]; c != 0 {
			return c
		}
		return strings.Compare(x.Name, y.Name)
	})
	// The tensors tile the data: no byte is two tensors', none nobody's.
	at := 0
	for _, t := range f.Tensors {
		if sp := spans[t.Name]; sp[0] != at {
			return nil, fmt.Errorf("%w: tensor %q: data at [%d,%d), where the one before it ends at %d: tensors overlap or leave a gap", ErrFormat, t.Name, sp[0], sp[1], at)
		}
		at = spans[t.Name][1]
	}
	if at != len(body) {
		return nil, fmt.Errorf("%w: %d bytes after the last tensor's data", ErrFormat, len(body)-at)
	}
	return f, nil
}

// elems returns the number of elements of shape, and false when a
// dimension is negative or the product overflows an int.
func elems(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		n = int(lo)
	}
	return n, true
}

func shapeOrEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// FromFloat32 builds an F32 tensor from v.
func FromFloat32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	if littleEndian {
		copy(b, bytesOf(v))
	} else {
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	}
	return Tensor{Name: name, DType: F32, Shape: shape, Data: b}
}

// FromFloat64 builds an F64 tensor from v.
func FromFloat64(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	if littleEndian {
		copy(b, bytesOf(v))
	} else {
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
	}
	return Tensor{Name: name, DType: F64, Shape: shape, Data: b}
}

// Float32s decodes an F32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != F32 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, want F32", t.Name, t.DType)
	}
	v := make([]float32, len(t.Data)/4)
	if littleEndian {
		copy(bytesOf(v), t.Data)
		return v, nil
	}
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Float64s decodes an F64 tensor.
func (t Tensor) Float64s() ([]float64, error) {
	if t.DType != F64 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, want F64", t.Name, t.DType)
	}
	v := make([]float64, len(t.Data)/8)
	if littleEndian {
		copy(bytesOf(v), t.Data)
		return v, nil
	}
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// FromInt64 builds an I64 tensor from v.
func FromInt64(name string, shape []int, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: shape, Data: b}
}

// Int64s decodes an I64 tensor.
func (t Tensor) Int64s() ([]int64, error) {
	if t.DType != I64 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, want I64", t.Name, t.DType)
	}
	v := make([]int64, len(t.Data)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// FromUint8 builds a U8 tensor whose data is v itself, not a copy: callers
// hand over bytes they no longer change.
func FromUint8(name string, shape []int, v []byte) Tensor {
	return Tensor{Name: name, DType: U8, Shape: shape, Data: v}
}

// Uint8s returns a U8 tensor's bytes: the tensor's own, not a copy.
func (t Tensor) Uint8s() ([]byte, error) {
	if t.DType != U8 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, want U8", t.Name, t.DType)
	}
	return t.Data, nil
}

// The format is little-endian IEEE 754; on a little-endian host that is the
// memory layout, and floats convert by a copy of their bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf returns the memory of v.
func bytesOf[T float32 | float64](v []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*int(unsafe.Sizeof(T(0))))
}
