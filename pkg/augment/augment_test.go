package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const h, w = 28, 28

// image returns an h×w image of random pixels in [0,1].
func image(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0))
	img := make([]float32, h*w)
	for i := range img {
		img[i] = r.Float32()
	}
	return img
}

// lit returns an image with the single pixel (y, x) set to 1.
func lit(y, x int) []float32 {
	img := make([]float32, h*w)
	img[y*w+x] = 1
	return img
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestIdentityConfigLeavesImage(t *testing.T) {
	a := New(Config{}, h, w)
	src := image(1)
	dst := make([]float32, h*w)
	for i := range 50 {
		a.Apply(dst, src, 7, 3, i)
		if !equal(dst, src) {
			t.Fatalf("index %d: zero Config changed the image", i)
		}
	}
}

func TestShiftMovesLitPixel(t *testing.T) {
	const shift = 3
	a := New(Config{Shift: shift}, h, w)
	src := lit(10, 20)
	dst := make([]float32, h*w)
	seen := map[[2]int]int{}
	for i := range 2000 {
		tr := a.draw(1, 0, i)
		a.Apply(dst, src, 1, 0, i)
		seen[[2]int{tr.dx, tr.dy}]++
		want := lit(10+tr.dy, 20+tr.dx)
		if !equal(dst, want) {
			t.Fatalf("index %d: shift (%d, %d) did not move pixel (10, 20) to (%d, %d)", i, tr.dx, tr.dy, 10+tr.dy, 20+tr.dx)
		}
	}
	// All (2·3+1)² offsets occur, roughly uniformly (2000/49 ≈ 41 each).
	if len(seen) != (2*shift+1)*(2*shift+1) {
		t.Errorf("saw %d distinct shifts, want %d", len(seen), (2*shift+1)*(2*shift+1))
	}
	for d, n := range seen {
		if n < 15 || n > 75 {
			t.Errorf("shift %v drawn %d times of 2000", d, n)
		}
	}
}

func TestShiftFillsWithZero(t *testing.T) {
	a := New(Config{}, h, w)
	src := image(2)
	for _, tr := range []transform{{dx: 2}, {dx: -3, dy: 1}, {dy: -27}, {dx: 30}, {dx: 1, flip: true}} {
		dst := make([]float32, h*w)
		a.apply(dst, src, tr)
		for y := range h {
			for x := range w {
				sx, sy := x-tr.dx, y-tr.dy
				if tr.flip {
					sx = w - 1 - sx
				}
				want := float32(0)
				if sx >= 0 && sx < w && sy >= 0 && sy < h {
					want = src[sy*w+sx]
				}
				if got := dst[y*w+x]; got != want {
					t.Fatalf("%+v: pixel (%d, %d) = %v want %v", tr, y, x, got, want)
				}
			}
		}
	}
}

func TestFlipTwiceIsIdentity(t *testing.T) {
	a := New(Config{Flip: true}, h, w)
	src := image(3)
	once, twice := make([]float32, h*w), make([]float32, h*w)
	flipped := 0
	for i := range 100 {
		a.Apply(once, src, 5, 1, i)
		a.Apply(twice, once, 5, 1, i) // the same key draws the same flip
		if !equal(twice, src) {
			t.Fatalf("index %d: flipping twice changed the image", i)
		}
		if !equal(once, src) {
			flipped++
			if once[0] != src[w-1] || once[w*h-1] != src[w*(h-1)] {
				t.Fatalf("index %d: not a left-right mirror", i)
			}
		}
	}
	if flipped < 30 || flipped > 70 {
		t.Errorf("flipped %d of 100 images, want about half", flipped)
	}
}

var full = Config{Shift: 2, Flip: true, RotateDegrees: 15}

func TestSameKeySameOutput(t *testing.T) {
	a, b := New(full, h, w), New(full, h, w)
	src := image(4)
	x, y := make([]float32, h*w), make([]float32, h*w)
	a.Apply(x, src, 9, 2, 77)
	a.Apply(y, src, 9, 2, 78) // an intervening call must not matter
	b.Apply(y, src, 9, 2, 77)
	if !equal(x, y) {
		t.Error("same (seed, epoch, index) gave different images")
	}
	for _, k := range []struct {
		seed         uint64
		epoch, index int
	}{{9, 2, 78}, {9, 3, 77}, {10, 2, 77}} {
		b.Apply(y, src, k.seed, k.epoch, k.index)
		if equal(x, y) {
			t.Errorf("key %+v gave the same image as (9, 2, 77)", k)
		}
	}
}

func TestInPlace(t *testing.T) {
	a := New(full, h, w)
	for i := range 20 {
		src := image(uint64(i))
		want := make([]float32, h*w)
		a.Apply(want, src, 1, 1, i)
		a.Apply(src, src, 1, 1, i)
		if !equal(src, want) {
			t.Fatalf("index %d: in-place result differs", i)
		}
	}
}

// The bilinear path with angle 0 must agree exactly with the integer path.
func TestWarpAgreesWithShiftFlip(t *testing.T) {
	a := New(Config{}, h, w)
	a.load(image(5))
	x, y := make([]float32, h*w), make([]float32, h*w)
	for dx := -4; dx <= 4; dx++ {
		for dy := -4; dy <= 4; dy++ {
			for _, flip := range []bool{false, true} {
				tr := transform{dx: dx, dy: dy, flip: flip}
				a.shiftFlip(x, tr)
				a.warp(y, tr)
				if !equal(x, y) {
					t.Fatalf("%+v: warp and shiftFlip differ", tr)
				}
			}
		}
	}
}

func TestRotation(t *testing.T) {
	a := New(Config{}, h, w)
	dst := make([]float32, h*w)
	// A quarter turn maps pixel (y, x) exactly onto another pixel centre;
	// with the y axis pointing down, (y, x) = (4, 20) goes to (20, 23).
	a.apply(dst, lit(4, 20), transform{angle: math.Pi / 2})
	for i, v := range dst {
		want := 0.0
		if i == 20*w+23 {
			want = 1
		}
		if math.Abs(float64(v)-want) > 1e-6 {
			t.Fatalf("quarter turn: pixel (%d, %d) = %v want %v", i/w, i%w, v, want)
		}
	}
	// Small angles move mass around the centre but do not lose it.
	src := make([]float32, h*w)
	for y := 10; y < 18; y++ {
		for x := 10; x < 18; x++ {
			src[y*w+x] = 1
		}
	}
	for _, deg := range []float64{-15, -3, 0.5, 10} {
		a.apply(dst, src, transform{angle: deg * math.Pi / 180})
		var sum, cy, cx float64
		for i, v := range dst {
			sum += float64(v)
			cy += float64(i/w) * float64(v)
			cx += float64(i%w) * float64(v)
		}
		if math.Abs(sum-64) > 0.5 || math.Abs(cy/sum-13.5) > 0.05 || math.Abs(cx/sum-13.5) > 0.05 {
			t.Errorf("%v°: mass %v centred at (%v, %v), want 64 at (13.5, 13.5)", deg, sum, cy/sum, cx/sum)
		}
	}
	// Drawn angles stay within ±RotateDegrees and cover the range.
	r := New(Config{RotateDegrees: 10}, h, w)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range 1000 {
		d := r.draw(3, 0, i).angle * 180 / math.Pi
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < -10 || hi > 10 || lo > -9.5 || hi < 9.5 {
		t.Errorf("angles drawn in [%v°, %v°], want about [-10°, 10°]", lo, hi)
	}
}

func TestApplyAllocatesNothing(t *testing.T) {
	for _, cfg := range []Config{{}, {Shift: 2, Flip: true}, full} {
		a := New(cfg, h, w)
		src, dst := image(6), make([]float32, h*w)
		i := 0
		if n := testing.AllocsPerRun(100, func() { a.Apply(dst, src, 1, 2, i); i++ }); n != 0 {
			t.Errorf("%+v: %v allocs per Apply, want 0", cfg, n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{full, ""},
		{Config{Shift: -1}, "augment.shift: must not be negative, got -1"},
		{Config{RotateDegrees: -5}, "augment.rotate_degrees: must be in [0, 180], got -5"},
		{Config{RotateDegrees: math.NaN()}, "augment.rotate_degrees"},
		{Config{RotateDegrees: 181}, "augment.rotate_degrees"},
	}
	for i, tc := range tests {
		err := tc.cfg.Validate()
		if got := fmt.Sprint(err); tc.wantErr == "" && err != nil || tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
			t.Errorf("test %d: got %v want %q", i, err, tc.wantErr)
		}
	}
}

// BenchmarkApply augments 28×28 images; the trainer needs about 128,000
// images/s (128 per step at 1000 steps/s).
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"shift", Config{Shift: 2}},
		{"shift+flip", Config{Shift: 2, Flip: true}},
		{"shift+flip+rotate", full},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := New(bc.cfg, h, w)
			src, dst := image(7), make([]float32, h*w)
			i := 0
			for b.Loop() {
				a.Apply(dst, src, 1, 0, i)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
