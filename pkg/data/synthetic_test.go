package data

import (
	"math"
	"strings"
	"testing"
)

func sinf(x float32) float32 {
	return float32(math.Sin(float64(x)))
}

func TestSynthetic(t *testing.T) {
	tests := []struct {
		name              string
		features, classes int
		regression        bool
	}{
		{"xor", 2, 2, false},
		{"spirals", 2, 2, false},
		{"blobs", 2, 3, false},
		{"blobs:7", 2, 7, false},
		{"curve", 1, 0, true},
	}
	for _, tc := range tests {
		d, err := Synthetic(tc.name, 200, 42)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.Len() != 200 || d.Features != tc.features || d.Classes != tc.classes || d.Name != tc.name {
			t.Errorf("%s: got Len %d Features %d Classes %d Name %q", tc.name, d.Len(), d.Features, d.Classes, d.Name)
		}
		if tc.regression != (d.Labels == nil) || tc.regression != (d.Targets != nil) {
			t.Errorf("%s: Labels nil %v, Targets nil %v", tc.name, d.Labels == nil, d.Targets == nil)
		}
		count := make([]int, max(tc.classes, 1))
		for _, l := range d.Labels {
			count[l]++
		}
		for c, k := range count[:tc.classes] {
			if k < 200/tc.classes {
				t.Errorf("%s: class %d has %d rows of 200", tc.name, c, k)
			}
		}
		// Deterministic, and row i does not depend on n.
		again, _ := Synthetic(tc.name, 200, 42)
		short, _ := Synthetic(tc.name, 30, 42)
		other, _ := Synthetic(tc.name, 200, 43)
		if !equal(again.X, d.X) || !equal(short.X, d.X[:30*tc.features]) || !equal(short.Labels, d.Labels[:min(len(d.Labels), 30)]) {
			t.Errorf("%s: not a function of (seed, row)", tc.name)
		}
		if equal(other.X, d.X) {
			t.Errorf("%s: seeds 42 and 43 gave the same rows", tc.name)
		}
	}
}

func TestSyntheticShapes(t *testing.T) {
	xor, _ := Synthetic("xor", 400, 1)
	for i := range xor.Len() {
		a, b := xor.X[2*i], xor.X[2*i+1]
		ca, cb := int(math.Round(float64(a))), int(math.Round(float64(b)))
		if math.Abs(float64(a)-float64(ca)) > 0.05 || math.Abs(float64(b)-float64(cb)) > 0.05 || xor.Labels[i] != ca^cb {
			t.Fatalf("xor row %d: (%v, %v) label %d", i, a, b, xor.Labels[i])
		}
	}
	spirals, _ := Synthetic("spirals", 400, 1)
	for i := range spirals.Len() {
		if r := math.Hypot(float64(spirals.X[2*i]), float64(spirals.X[2*i+1])); r < 0.05 || r > 1.05 {
			t.Fatalf("spirals row %d: radius %v outside [0.05, 1.05]", i, r)
		}
	}
	curve, _ := Synthetic("curve", 400, 1)
	for i := range curve.Len() {
		x := curve.X[i]
		if math.Abs(float64(x)) > math.Pi+1e-6 || curve.Targets[i] != sinf(x) {
			t.Fatalf("curve row %d: x %v target %v", i, x, curve.Targets[i])
		}
	}
	// Blobs are separable: each point is nearest its own class's centre.
	blobs, _ := Synthetic("blobs:10", 1000, 1)
	wrong := 0
	for i := range blobs.Len() {
		best, bestD := -1, math.Inf(1)
		for c := range 10 {
			angle := 2 * math.Pi * float64(c) / 10
			dist := math.Hypot(float64(blobs.X[2*i])-5*math.Cos(angle), float64(blobs.X[2*i+1])-5*math.Sin(angle))
			if dist < bestD {
				best, bestD = c, dist
			}
		}
		if best != blobs.Labels[i] {
			wrong++
		}
	}
	if wrong > 10 {
		t.Errorf("blobs:10: %d of 1000 points nearer another class's centre", wrong)
	}
}

func TestSyntheticErrors(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		wantErr string
	}{
		{"moons", 10, `synthetic: unknown set "moons"`},
		{"blobs:1", 10, "synthetic: blobs:1: blob count must be an integer in [2, 100]"},
		{"blobs:x", 10, "blob count"},
		{"blobs:101", 10, "blob count"},
		{"xor", 0, "synthetic xor: need at least 1 row, got 0"},
	}
	for _, tc := range tests {
		if _, err := Synthetic(tc.name, tc.n, 1); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got %v want error containing %q", tc.name, err, tc.wantErr)
		}
	}
}
