package data

import (
	"math"
	"testing"
)

func TestScaler(t *testing.T) {
	// Three rows of three features: one spread, one shifted, one constant.
	d := &Dataset{Name: "t", Features: 3, X: []float32{0, 10, 5, 2, 20, 5, 4, 30, 5}}
	tests := []struct {
		kind          string
		offset, scale []float64
	}{
		{ScaleStandard, []float64{2, 20, 5}, []float64{1 / math.Sqrt(8.0/3), 1 / math.Sqrt(200.0/3), 1}},
		{ScaleMinMax, []float64{0, 10, 5}, []float64{0.25, 0.05, 1}},
	}
	for _, tc := range tests {
		s, err := FitScaler(tc.kind, d)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if math.Abs(s.Offset[j]-tc.offset[j]) > 1e-9 || math.Abs(s.Scale[j]-tc.scale[j]) > 1e-9 {
				t.Errorf("%s feature %d: offset %v scale %v, want %v %v", tc.kind, j, s.Offset[j], s.Scale[j], tc.offset[j], tc.scale[j])
			}
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", tc.kind, err)
		}
		c := &Dataset{Name: "c", Features: 3, X: append([]float32(nil), d.X...)}
		if err := s.Apply(c); err != nil {
			t.Fatal(err)
		}
		if tc.kind == ScaleMinMax && (c.X[0] != 0 || c.X[6] != 1 || c.X[7] != 1 || c.X[8] != 0) {
			t.Errorf("minmax: scaled to %v", c.X)
		}
		if tc.kind == ScaleStandard && math.Abs(float64(c.X[0]+c.X[3]+c.X[6])) > 1e-6 {
			t.Errorf("standard: feature 0's mean is not 0: %v", c.X)
		}
		if err := s.Apply(&Dataset{Name: "narrow", Features: 2, X: []float32{1, 2}}); err == nil {
			t.Errorf("%s: applied to a set of another width", tc.kind)
		}
	}
	if _, err := FitScaler("zscore", d); err == nil {
		t.Error("FitScaler accepted kind zscore")
	}
	for _, bad := range []*Scaler{
		{Kind: "zscore", Offset: []float64{0}, Scale: []float64{1}},
		{Kind: ScaleStandard, Offset: []float64{0}, Scale: []float64{0}},
		{Kind: ScaleStandard, Offset: []float64{0, 1}, Scale: []float64{1}},
		{Kind: ScaleMinMax, Offset: []float64{math.NaN()}, Scale: []float64{1}},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}
