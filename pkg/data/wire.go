package data

import (
	"fmt"
	"strconv"

	"github.com/ringtrain/ringtrain/pkg/safetensors"
)

// Encode serialises d as safetensors bytes: how a coordinator ships a
// job's training set to workers, so no shared filesystem is needed.
func (d *Dataset) Encode() ([]byte, error) {
	n := d.Len()
	meta := map[string]string{
		"format":   "ringtrain.dataset",
		"name":     d.Name,
		"features": strconv.Itoa(d.Features),
		"classes":  strconv.Itoa(d.Classes),
		"height":   strconv.Itoa(d.Shape[0]),
		"width":    strconv.Itoa(d.Shape[1]),
	}
	tensors := []safetensors.Tensor{safetensors.FromFloat32("x", []int{n, d.Features}, d.X)}
	if d.Labels != nil {
		l := make([]int64, len(d.Labels))
		for i, v := range d.Labels {
			l[i] = int64(v)
		}
		tensors = append(tensors, safetensors.FromInt64("labels", []int{n}, l))
	}
	if d.Targets != nil {
		tensors = append(tensors, safetensors.FromFloat32("targets", []int{n, d.TargetWidth()}, d.Targets))
	}
	b, err := safetensors.Marshal(meta, tensors)
	if err != nil {
		return nil, fmt.Errorf("encode dataset %s: %w", d.Name, err)
	}
	return b, nil
}

// Decode parses bytes written by Encode, checking that the parts agree.
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
	if d.X, err = x.Float32s(); err != nil {
		return nil, fmt.Errorf("decode dataset: %w", err)
	}
	if d.Features == 0 || len(d.X)%d.Features != 0 {
		return nil, fmt.Errorf("decode dataset: %d values do not make rows of %d features", len(d.X), d.Features)
	}
	n := d.Len()
	if t, ok := f.Tensor("labels"); ok {
		l, err := t.Int64s()
		if err != nil {
			return nil, fmt.Errorf("decode dataset: %w", err)
		}
		if len(l) != n {
			return nil, fmt.Errorf("decode dataset: %d labels for %d rows", len(l), n)
		}
		d.Labels = make([]int, n)
		for i, v := range l {
			if v < 0 || v >= int64(d.Classes) {
				return nil, fmt.Errorf("decode dataset: label %d of row %d not in [0, %d)", v, i, d.Classes)
			}
			d.Labels[i] = int(v)
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
