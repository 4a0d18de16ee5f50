package data

import (
	"slices"
	"strings"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/safetensors"
)

func TestEncodeDecode(t *testing.T) {
	classes, err := Synthetic("blobs", 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	classes.Shape = [2]int{1, classes.Features}
	curve, err := Synthetic("curve", 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Dataset{classes, curve} {
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if !slices.Equal(got.Inputs(), d.Inputs()) || !slices.Equal(got.Labels, d.Labels) || !slices.Equal(got.Targets, d.Targets) ||
			got.Features != d.Features || got.Classes != d.Classes || got.Shape != d.Shape || got.Name != d.Name {
			t.Errorf("%s: round trip changed the dataset", d.Name)
		}
	}
	b, _ := classes.Encode()
	bad := strings.Replace(string(b), `"classes":"3"`, `"classes":"2"`, 1)
	if _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("labels beyond classes: got %v", err)
	}
}

// TestEncodeCompact checks that inputs which are all byte pixels travel as
// one byte each, labels as one byte where classes allow, and that what
// arrives is bit for bit what was sent, compact or not.
func TestEncodeCompact(t *testing.T) {
	pixelSet := func(n, features, classes int) *Dataset {
		d := &Dataset{Features: features, Classes: classes, Shape: [2]int{1, features}, Name: "px"}
		for i := range n * features {
			d.X = append(d.X, pixelScale[(i*37)%256])
		}
		for i := range n {
			d.Labels = append(d.Labels, (i*7)%classes)
		}
		return d
	}
	almost := pixelSet(10, 8, 3)
	almost.X[17] = 0.5 // no byte scales to it
	big := pixelSet(600, 4, 300)
	// A set read from IDX files holds its pixels as bytes (Pixels).
	asBytes := pixelSet(100, 784, 10)
	asBytes.Pixels = make([]uint8, len(asBytes.X))
	for i, v := range asBytes.X {
		asBytes.Pixels[i] = uint8(v*255 + 0.5)
	}
	asBytes.X = nil
	for _, tc := range []struct {
		name           string
		d              *Dataset
		xType, lType   safetensors.DType
		maxBytesPerRow int
	}{
		{"pixels", pixelSet(100, 784, 10), safetensors.U8, safetensors.U8, 784 + 1},
		{"pixels held as bytes", asBytes, safetensors.U8, safetensors.U8, 784 + 1},
		{"one value not a pixel", almost, safetensors.F32, safetensors.U8, 4*8 + 1},
		{"300 classes", big, safetensors.U8, safetensors.I64, 4 + 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := f.Tensor("x")
			l, _ := f.Tensor("labels")
			if x.DType != tc.xType || l.DType != tc.lType {
				t.Errorf("x is %s, labels %s; want %s and %s", x.DType, l.DType, tc.xType, tc.lType)
			}
			if n := tc.d.Len(); len(b) > n*tc.maxBytesPerRow+1024 {
				t.Errorf("%d bytes for %d rows, want at most %d a row and a header", len(b), n, tc.maxBytesPerRow)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Inputs(), tc.d.Inputs()) || !slices.Equal(got.Labels, tc.d.Labels) {
				t.Error("round trip changed the dataset")
			}
		})
	}
}

// TestDecodeRejectsPixelMismatch checks that the marker of byte pixels and
// the tensor's type must agree.
func TestDecodeRejectsPixelMismatch(t *testing.T) {
	meta := func(scale string) map[string]string {
		m := map[string]string{"format": "ringtrain.dataset", "name": "m", "features": "2", "classes": "0", "height": "0", "width": "0"}
		if scale != "" {
			m[pixelsKey] = scale
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		meta  map[string]string
		x     safetensors.Tensor
		error string
	}{
		{"bytes without a scale", meta(""), safetensors.FromUint8("x", []int{1, 2}, []byte{1, 2}), "x_scale"},
		{"bytes with another scale", meta("1/256"), safetensors.FromUint8("x", []int{1, 2}, []byte{1, 2}), "1/256"},
		{"floats with a scale", meta(pixelsValue), safetensors.FromFloat32("x", []int{1, 2}, []float32{1, 2}), "F32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := safetensors.Marshal(tc.meta, []safetensors.Tensor{tc.x})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("got %v, want an error naming %q", err, tc.error)
			}
		})
	}
}
