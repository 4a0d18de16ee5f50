package data

import (
	"fmt"
	"math"
)

// The kinds of input scaling (dataset.normalize).
const (
	ScaleNone     = "none"
	ScaleStandard = "standard" // each feature to mean 0 and standard deviation 1
	ScaleMinMax   = "minmax"   // each feature to [0, 1]
)

// Scaler maps each input feature x_j to (x_j − Offset[j]) · Scale[j], with
// statistics taken from a training set (FitScaler). A model file keeps the
// scaler its network was trained with, so that raw inputs given to eval
// and predict are scaled as training's were.
type Scaler struct {
	Kind   string    `json:"kind"`
	Offset []float64 `json:"offset"`
	Scale  []float64 `json:"scale"`
}

// FitScaler returns the scaler of kind (ScaleStandard or ScaleMinMax) for
// d's features. A feature that does not vary keeps its spread (scale 1):
// it maps to 0.
func FitScaler(kind string, d *Dataset) (*Scaler, error) {
	return fit(kind, d.Inputs(), d.Features, d.Name)
}

// FitTargetScaler returns the standard scaler of d's regression targets.
func FitTargetScaler(d *Dataset) (*Scaler, error) {
	if d.Labels != nil {
		return nil, fmt.Errorf("data: %s has classes, not targets to scale", d.Name)
	}
	return fit(ScaleStandard, d.Targets, d.TargetWidth(), d.Name)
}

// fit fits a scaler of kind to rows of f values in x.
func fit(kind string, x []float32, f int, name string) (*Scaler, error) {
	if f == 0 || len(x) == 0 {
		return nil, fmt.Errorf("data: scaler of %s: no rows", name)
	}
	n := len(x) / f
	s := &Scaler{Kind: kind, Offset: make([]float64, f), Scale: make([]float64, f)}
	switch kind {
	case ScaleStandard:
		sum, sumSq := make([]float64, f), make([]float64, f)
		for i, v := range x {
			sum[i%f] += float64(v)
			sumSq[i%f] += float64(v) * float64(v)
		}
		for j := range f {
			mean := sum[j] / float64(n)
			s.Offset[j], s.Scale[j] = mean, spread(math.Sqrt(max(sumSq[j]/float64(n)-mean*mean, 0)))
		}
	case ScaleMinMax:
		lo, hi := make([]float64, f), make([]float64, f)
		copy(lo, toFloat64(x[:f]))
		copy(hi, lo)
		for i, v := range x {
			lo[i%f], hi[i%f] = min(lo[i%f], float64(v)), max(hi[i%f], float64(v))
		}
		for j := range f {
			s.Offset[j], s.Scale[j] = lo[j], spread(hi[j]-lo[j])
		}
	default:
		return nil, fmt.Errorf("data: scaler kind %q: want %s or %s", kind, ScaleStandard, ScaleMinMax)
	}
	return s, nil
}

// spread returns 1/width, or 1 for a feature that does not vary.
func spread(width float64) float64 {
	if width < 1e-12 {
		return 1
	}
	return 1 / width
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// Apply scales d's inputs in place. It refuses a set of another width.
func (s *Scaler) Apply(d *Dataset) error {
	if d.Features != len(s.Scale) {
		return fmt.Errorf("data: scaler of %d features applied to %s of %d", len(s.Scale), d.Name, d.Features)
	}
	d.toFloats()
	s.ApplyRows(d.X)
	return nil
}

// ApplyTargets scales d's regression targets in place.
func (s *Scaler) ApplyTargets(d *Dataset) error {
	if d.Labels != nil || d.TargetWidth() != len(s.Scale) {
		return fmt.Errorf("data: target scaler of %d outputs applied to %s of %d targets", len(s.Scale), d.Name, d.TargetWidth())
	}
	s.ApplyRows(d.Targets)
	return nil
}

// Unscale maps rows of scaled values v (rows × the scaler's width) back to
// their own units, in place: the inverse of ApplyRows.
func (s *Scaler) Unscale(v []float64) {
	f := len(s.Scale)
	for i := range v {
		v[i] = v[i]/s.Scale[i%f] + s.Offset[i%f]
	}
}

// ApplyRows scales rows of inputs x (rows × the scaler's features) in
// place.
func (s *Scaler) ApplyRows(x []float32) {
	f := len(s.Scale)
	for i, v := range x {
		j := i % f
		x[i] = float32((float64(v) - s.Offset[j]) * s.Scale[j])
	}
}

// Validate checks that s is whole: as a model file's, it may come from
// anywhere.
func (s *Scaler) Validate() error {
	switch {
	case s.Kind != ScaleStandard && s.Kind != ScaleMinMax:
		return fmt.Errorf("scaler kind %q: want %s or %s", s.Kind, ScaleStandard, ScaleMinMax)
	case len(s.Offset) != len(s.Scale) || len(s.Scale) == 0:
		return fmt.Errorf("scaler of %d offsets and %d scales", len(s.Offset), len(s.Scale))
	}
	for j, v := range s.Scale {
		if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 || math.IsNaN(s.Offset[j]) || math.IsInf(s.Offset[j], 0) {
			return fmt.Errorf("scaler feature %d: offset %v scale %v", j, s.Offset[j], v)
		}
	}
	return nil
}
