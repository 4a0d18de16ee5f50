package data

import (
	"fmt"
	"slices"
	"testing"
)

// rows returns a 2-feature classification set whose row i is (i, -i) with
// label i%3, so that any row can be recognised after a copy.
func rows(n int) *Dataset {
	d := &Dataset{Features: 2, Classes: 3, Name: "rows", Labels: make([]int, n)}
	for i := range n {
		d.X = append(d.X, float32(i), -float32(i))
		d.Labels[i] = i % 3
	}
	return d
}

func TestGather(t *testing.T) {
	d := rows(6)
	x, y := make([]float32, 3*2), make([]float32, 3*3)
	for i := range y {
		y[i] = 7 // stale values from a previous batch must be cleared
	}
	d.Gather([]int{5, 0, 3}, x, y)
	if want := []float32{5, -5, 0, 0, 3, -3}; !equal(x, want) {
		t.Errorf("classes x: got %v want %v", x, want)
	}
	if want := []float32{0, 0, 1, 1, 0, 0, 1, 0, 0}; !equal(y, want) {
		t.Errorf("classes y: got %v want %v", y, want)
	}

	r := &Dataset{Features: 1, X: []float32{1, 2, 3}, Targets: []float32{10, 11, 20, 21, 30, 31}}
	if r.TargetWidth() != 2 {
		t.Fatalf("regression TargetWidth %d want 2", r.TargetWidth())
	}
	x, y = make([]float32, 2), make([]float32, 4)
	r.Gather([]int{2, 1}, x, y)
	if !equal(x, []float32{3, 2}) || !equal(y, []float32{30, 31, 20, 21}) {
		t.Errorf("regression: got x %v y %v", x, y)
	}

	idx := []int{1, 4, 2, 2}
	x, y = make([]float32, 8), make([]float32, 12)
	if a := testing.AllocsPerRun(100, func() { d.Gather(idx, x, y) }); a != 0 {
		t.Errorf("Gather allocates %v times, want 0", a)
	}
}

func TestGatherPanicsOnShortBuffer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Gather into a short y did not panic")
		}
	}()
	rows(4).Gather([]int{0, 1}, make([]float32, 4), make([]float32, 5))
}

func TestSplit(t *testing.T) {
	d := rows(100)
	tests := []struct {
		frac    float64
		wantVal int
	}{{0, 0}, {0.1, 10}, {0.333, 33}, {0.995, 100}}
	for _, tc := range tests {
		train, val := d.Split(tc.frac, 7)
		if val.Len() != tc.wantVal || train.Len() != 100-tc.wantVal {
			t.Errorf("frac %v: got %d train, %d val; want %d, %d", tc.frac, train.Len(), val.Len(), 100-tc.wantVal, tc.wantVal)
		}
		if train.Name != "rows" || val.Name != "rows/val" || train.Classes != 3 || val.Features != 2 {
			t.Errorf("frac %v: metadata not kept: %q %q %d %d", tc.frac, train.Name, val.Name, train.Classes, val.Features)
		}
		// Every row lands in exactly one part, intact, in its original order.
		seen := make([]int, 100)
		for _, part := range []*Dataset{train, val} {
			prev := -1
			for r := range part.Len() {
				i := int(part.X[2*r])
				if part.X[2*r+1] != -float32(i) || part.Labels[r] != i%3 {
					t.Fatalf("frac %v: row %d of %s is corrupt", tc.frac, r, part.Name)
				}
				if i <= prev {
					t.Errorf("frac %v: %s is out of order at row %d", tc.frac, part.Name, r)
				}
				prev = i
				seen[i]++
			}
		}
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("frac %v: row %d appears %d times", tc.frac, i, c)
			}
		}
	}
	key := func(s uint64) string { _, v := d.Split(0.2, s); return fmt.Sprint(v.Labels, v.X) }
	if key(7) != key(7) {
		t.Error("same seed gave different splits")
	}
	if key(7) == key(8) {
		t.Error("seeds 7 and 8 gave the same split")
	}
}

func TestSplitRegressionKeepsTargets(t *testing.T) {
	d, _ := Synthetic("curve", 50, 1)
	train, val := d.Split(0.2, 3)
	if train.Len() != 40 || val.Len() != 10 || train.Labels != nil || val.TargetWidth() != 1 {
		t.Fatalf("got %d/%d rows, labels %v, target width %d", train.Len(), val.Len(), train.Labels, val.TargetWidth())
	}
	for r := range val.Len() {
		if got, want := val.Targets[r], float32(sinf(val.X[r])); got != want {
			t.Errorf("val row %d: target %v want sin(x) %v", r, got, want)
		}
	}
}

func TestSplitPanicsOnBadFraction(t *testing.T) {
	for _, f := range []float64{-0.1, 1, 2} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(%v) did not panic", f)
				}
			}()
			rows(10).Split(f, 1)
		}()
	}
}

// BenchmarkGather copies a batch of 128 Fashion-MNIST-sized rows.
func BenchmarkGather(b *testing.B) {
	const n, f, batch = 10000, 784, 128
	d := &Dataset{X: make([]float32, n*f), Features: f, Classes: 10, Labels: make([]int, n)}
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = (i * 7919) % n
	}
	x, y := make([]float32, batch*f), make([]float32, batch*10)
	for b.Loop() {
		d.Gather(idx, x, y)
	}
	b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "rows/s")
}

// TestPixels checks that a set held as byte pixels gathers, splits, scales
// and reads as the same floats as the set held as X.
func TestPixels(t *testing.T) {
	const n, f = 40, 6
	px := &Dataset{Features: f, Classes: 4, Name: "px"}
	fl := &Dataset{Features: f, Classes: 4, Name: "px"}
	for i := range n * f {
		v := uint8(i * 53)
		px.Pixels = append(px.Pixels, v)
		fl.X = append(fl.X, pixelScale[v])
	}
	for i := range n {
		px.Labels = append(px.Labels, i%4)
		fl.Labels = append(fl.Labels, i%4)
	}
	if px.Len() != n || !slices.Equal(px.Inputs(), fl.X) {
		t.Fatalf("Len %d, Inputs differ from the floats", px.Len())
	}
	idx := []int{39, 0, 7, 7}
	xp, yp := make([]float32, len(idx)*f), make([]float32, len(idx)*4)
	xf, yf := make([]float32, len(idx)*f), make([]float32, len(idx)*4)
	px.Gather(idx, xp, yp)
	fl.Gather(idx, xf, yf)
	if !slices.Equal(xp, xf) || !slices.Equal(yp, yf) {
		t.Error("Gather of pixels differs from Gather of floats")
	}
	pt, pv := px.Split(0.25, 9)
	ft, fv := fl.Split(0.25, 9)
	if pt.Pixels == nil || !slices.Equal(pt.Inputs(), ft.X) || !slices.Equal(pv.Inputs(), fv.X) || !slices.Equal(pv.Labels, fv.Labels) {
		t.Error("Split of pixels differs from Split of floats")
	}
	s, err := FitScaler(ScaleStandard, px)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(px); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(fl); err != nil {
		t.Fatal(err)
	}
	if px.Pixels != nil || !slices.Equal(px.X, fl.X) {
		t.Error("scaling pixels did not give the scaled floats")
	}
}
