package data

import (
	"fmt"
	"math"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Dataset is a set of examples held in memory. A classification set has
// Labels and Classes; a regression set has Targets instead; a set for
// prediction may have neither.
type Dataset struct {
	// X holds the inputs, N × Features, row-major, unless Pixels does.
	X []float32
	// Pixels, when not nil, holds the inputs in place of X (which is nil
	// then), one byte each, the input being Pixels[i]/255: how images read
	// from IDX files are kept, in a quarter of X's memory, and how they
	// travel to workers. Inputs returns them as floats either way.
	Pixels   []uint8
	Labels   []int     // class of each row, in [0, Classes); nil for regression
	Targets  []float32 // N × TargetWidth() for regression; nil for classes
	Features int
	Classes  int
	Shape    [2]int // image height and width when rows are images, else zero
	Name     string
}

// Len returns the number of rows.
func (d *Dataset) Len() int {
	if d.Features == 0 {
		return 0
	}
	return (len(d.X) + len(d.Pixels)) / d.Features
}

// Inputs returns the inputs as floats: X, or a new slice made from Pixels.
func (d *Dataset) Inputs() []float32 {
	if d.Pixels == nil {
		return d.X
	}
	x := make([]float32, len(d.Pixels))
	for i, v := range d.Pixels {
		x[i] = pixelScale[v]
	}
	return x
}

// toFloats makes X hold the inputs, for what changes them in place.
func (d *Dataset) toFloats() {
	if d.Pixels != nil {
		d.X, d.Pixels = d.Inputs(), nil
	}
}

// TargetWidth returns the width of a row of Gather's y: Classes for a
// classification set (one-hot), the number of targets for regression.
func (d *Dataset) TargetWidth() int {
	if d.Labels != nil {
		return d.Classes
	}
	if n := d.Len(); n > 0 {
		return len(d.Targets) / n
	}
	return 0
}

// Gather copies the rows idx into x (len(idx) × Features) and their targets
// into y (len(idx) × TargetWidth(): one-hot labels or regression targets).
// It allocates nothing: the trainer calls it every step. Buffers that are
// too short or indices out of range panic.
func (d *Dataset) Gather(idx []int, x, y []float32) {
	f := d.Features
	if d.Pixels != nil {
		for r, i := range idx {
			dst := x[r*f : (r+1)*f]
			for j, v := range d.Pixels[i*f : (i+1)*f] {
				dst[j] = pixelScale[v]
			}
		}
	} else {
		for r, i := range idx {
			copy(x[r*f:(r+1)*f], d.X[i*f:(i+1)*f])
		}
	}
	w := d.TargetWidth()
	if w == 0 {
		return
	}
	y = y[:len(idx)*w]
	if d.Labels != nil {
		clear(y)
		for r, i := range idx {
			y[r*w+d.Labels[i]] = 1
		}
		return
	}
	for r, i := range idx {
		copy(y[r*w:(r+1)*w], d.Targets[i*w:(i+1)*w])
	}
}

// Split sets aside round(valFraction·Len()) rows, chosen by a shuffle that
// depends only on seed, as a validation set named Name+"/val"; train keeps
// the rest and the name. Both keep the original order of their rows.
// valFraction must be in [0, 1).
func (d *Dataset) Split(valFraction float64, seed uint64) (train, val *Dataset) {
	if !(valFraction >= 0 && valFraction < 1) {
		panic(fmt.Sprintf("data: Split fraction %v outside [0, 1)", valFraction))
	}
	n := d.Len()
	nVal := int(math.Round(valFraction * float64(n)))
	inVal := make([]bool, n)
	for _, i := range rng.NewSource(seed, rng.Split).Rand().Perm(n)[:nVal] {
		inVal[i] = true
	}
	trainIdx := make([]int, 0, n-nVal)
	valIdx := make([]int, 0, nVal)
	for i, v := range inVal {
		if v {
			valIdx = append(valIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	return d.subset(trainIdx, d.Name), d.subset(valIdx, d.Name+"/val")
}

// subset copies rows idx into a new Dataset with the same metadata.
func (d *Dataset) subset(idx []int, name string) *Dataset {
	s := &Dataset{Features: d.Features, Classes: d.Classes, Shape: d.Shape, Name: name}
	f, w := d.Features, d.TargetWidth()
	if d.Pixels != nil {
		s.Pixels = make([]uint8, 0, len(idx)*f)
		for _, i := range idx {
			s.Pixels = append(s.Pixels, d.Pixels[i*f:(i+1)*f]...)
		}
	} else {
		s.X = make([]float32, 0, len(idx)*f)
		for _, i := range idx {
			s.X = append(s.X, d.X[i*f:(i+1)*f]...)
		}
	}
	if d.Labels != nil {
		s.Labels = make([]int, len(idx))
		for r, i := range idx {
			s.Labels[r] = d.Labels[i]
		}
	}
	if d.Targets != nil {
		s.Targets = make([]float32, 0, len(idx)*w)
		for _, i := range idx {
			s.Targets = append(s.Targets, d.Targets[i*w:(i+1)*w]...)
		}
	}
	return s
}
