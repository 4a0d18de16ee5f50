package data

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/ringtrain/ringtrain/pkg/safetensors"
)

// pixelsKey is the metadata key that marks an x tensor of byte pixels, and
// pixelsValue its one value: x = byte/255, as the IDX reader scales them.
const pixelsKey, pixelsValue = "x_scale", "1/255"

// Encode serialises d as safetensors bytes: how a coordinator ships a
// job's training set to workers, so no shared filesystem is needed. It is
// compact where it can be without changing a bit of what Decode returns:
// inputs that are all byte pixels scaled to [0,1] (images read from IDX
// files) travel as one byte each, and class labels as one byte where there
// are at most 256 classes.
func (d *Dataset) Encode() ([]byte, error) {
	parts, err := d.EncodeParts()
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}

// EncodeParts returns Encode's bytes as parts to be sent one after the
// other, of which the inputs, where they are Pixels, are Pixels itself:
// what a coordinator streams to workers without copying the set.
func (d *Dataset) EncodeParts() ([][]byte, error) {
	n := d.Len()
	meta := map[string]string{
		"format":   "ringtrain.dataset",
		"name":     d.Name,
		"features": strconv.Itoa(d.Features),
		"classes":  strconv.Itoa(d.Classes),
		"height":   strconv.Itoa(d.Shape[0]),
		"width":    strconv.Itoa(d.Shape[1]),
	}
	var x safetensors.Tensor
	if d.Pixels != nil {
		x, meta[pixelsKey] = safetensors.FromUint8("x", []int{n, d.Features}, d.Pixels), pixelsValue
	} else if px, ok := pixels(d.X); ok {
		x, meta[pixelsKey] = safetensors.FromUint8("x", []int{n, d.Features}, px), pixelsValue
	} else {
		x = safetensors.FromFloat32("x", []int{n, d.Features}, d.X)
	}
	tensors := []safetensors.Tensor{x}
	switch {
	case d.Labels != nil && d.Classes <= 256:
		l := make([]byte, len(d.Labels))
		for i, v := range d.Labels {
			l[i] = byte(v)
		}
		tensors = append(tensors, safetensors.FromUint8("labels", []int{n}, l))
	case d.Labels != nil:
		l := make([]int64, len(d.Labels))
		for i, v := range d.Labels {
			l[i] = int64(v)
		}
		tensors = append(tensors, safetensors.FromInt64("labels", []int{n}, l))
	}
	if d.Targets != nil {
		tensors = append(tensors, safetensors.FromFloat32("targets", []int{n, d.TargetWidth()}, d.Targets))
	}
	parts, err := safetensors.MarshalParts(meta, tensors)
	if err != nil {
		return nil, fmt.Errorf("encode dataset %s: %w", d.Name, err)
	}
	return parts, nil
}

// Decode parses bytes written by Encode, checking that the parts agree.
// The Dataset's Pixels, if any, are b's own bytes: b must not change after.
func Decode(b []byte) (*Dataset, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("decode dataset: %w", err)
	}
	if f.Metadata["format"] != "ringtrain.dataset" {
		return nil, fmt.Errorf("decode dataset: format %q, want ringtrain.dataset", f.Metadata["format"])
	}
	d := &Dataset{Name: f.Metadata["name"]}
	for _, field := range []struct {
		key string
		dst *int
	}{{"features", &d.Features}, {"classes", &d.Classes}, {"height", &d.Shape[0]}, {"width", &d.Shape[1]}} {
		if *field.dst, err = strconv.Atoi(f.Metadata[field.key]); err != nil || *field.dst < 0 {
			return nil, fmt.Errorf("decode dataset: metadata %s=%q", field.key, f.Metadata[field.key])
		}
	}
	x, ok := f.Tensor("x")
	if !ok {
		return nil, fmt.Errorf("decode dataset: no x tensor")
	}
	if d.X, d.Pixels, err = decodeX(x, f.Metadata[pixelsKey]); err != nil {
		return nil, fmt.Errorf("decode dataset: %w", err)
	}
	if values := len(d.X) + len(d.Pixels); d.Features == 0 || values%d.Features != 0 {
		return nil, fmt.Errorf("decode dataset: %d values do not make rows of %d features", values, d.Features)
	}
	n := d.Len()
	if t, ok := f.Tensor("labels"); ok {
		if d.Labels, err = wireLabels(t, n, d.Classes); err != nil {
			return nil, fmt.Errorf("decode dataset: %w", err)
		}
	}
	if t, ok := f.Tensor("targets"); ok {
		if d.Targets, err = t.Float32s(); err != nil {
			return nil, fmt.Errorf("decode dataset: %w", err)
		}
		if n == 0 || len(d.Targets)%n != 0 {
			return nil, fmt.Errorf("decode dataset: %d targets for %d rows", len(d.Targets), n)
		}
	}
	return d, nil
}

// pixels returns x as bytes when every value is a byte pixel scaled by
// pixelScale, which Decode turns back into the same floats; ok is false at
// the first value that is not.
func pixels(x []float32) (px []byte, ok bool) {
	px = make([]byte, len(x))
	for i, v := range x {
		q := int(v*255 + 0.5)
		if q < 0 || q > 255 || pixelScale[q] != v {
			return nil, false
		}
		px[i] = byte(q)
	}
	return px, true
}

// decodeX returns the inputs of an x tensor: F32 values as floats, or U8
// pixels when scale says how to scale them (the only way there is: 1/255).
func decodeX(t safetensors.Tensor, scale string) (x []float32, px []uint8, err error) {
	if t.DType != safetensors.U8 {
		if scale != "" {
			return nil, nil, fmt.Errorf("metadata %s=%q for a %s tensor", pixelsKey, scale, t.DType)
		}
		x, err = t.Float32s()
		return x, nil, err
	}
	if scale != pixelsValue {
		return nil, nil, fmt.Errorf("U8 inputs with metadata %s=%q, want %q", pixelsKey, scale, pixelsValue)
	}
	px, err = t.Uint8s()
	return nil, px, err
}

// wireLabels returns the n labels of t, U8 or I64, each checked to be
// one of the classes.
func wireLabels(t safetensors.Tensor, n, classes int) ([]int, error) {
	if t.DType == safetensors.U8 {
		b, err := t.Uint8s()
		if err != nil {
			return nil, err
		}
		return checkLabels(b, n, classes)
	}
	l, err := t.Int64s()
	if err != nil {
		return nil, err
	}
	return checkLabels(l, n, classes)
}

func checkLabels[T byte | int64](l []T, n, classes int) ([]int, error) {
	if len(l) != n {
		return nil, fmt.Errorf("%d labels for %d rows", len(l), n)
	}
	labels := make([]int, n)
	for i, v := range l {
		if int64(v) < 0 || int64(v) >= int64(classes) {
			return nil, fmt.Errorf("label %d of row %d not in [0, %d)", v, i, classes)
		}
		labels[i] = int(v)
	}
	return labels, nil
}
