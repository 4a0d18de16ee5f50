package augment

import (
	"fmt"
	"math"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Config selects the perturbations; the zero Config leaves images unchanged.
type Config struct {
	Shift         int     // shift by up to this many pixels in x and in y, uniformly
	Flip          bool    // mirror left-right with probability ½ (clothing, not digits)
	RotateDegrees float64 // rotate about the centre by an angle uniform in ±RotateDegrees
}

// Validate reports the first invalid field, named as in the job spec.
func (c Config) Validate() error {
	if c.Shift < 0 {
		return fmt.Errorf("augment.shift: must not be negative, got %d", c.Shift)
	}
	if !(c.RotateDegrees >= 0 && c.RotateDegrees <= 180) {
		return fmt.Errorf("augment.rotate_degrees: must be in [0, 180], got %v", c.RotateDegrees)
	}
	return nil
}

// Augmenter perturbs h×w images. It holds scratch space and a random source,
// so each goroutine needs its own.
type Augmenter struct {
	cfg  Config
	h, w int
	rnd  *rng.Source
	// pad holds the source image inside a one-pixel zero border, so that
	// bilinear sampling near the edge reads zeros without bounds checks, and
	// so that dst may be the same slice as src.
	pad []float32
}

// New returns an Augmenter for h×w images. An invalid cfg (see Validate) or
// a non-positive size is a programming error and panics.
func New(cfg Config, h, w int) *Augmenter {
	if err := cfg.Validate(); err != nil {
		panic("augment: " + err.Error())
	}
	if h < 1 || w < 1 {
		panic(fmt.Sprintf("augment: image size %d×%d", h, w))
	}
	return &Augmenter{
		cfg: cfg, h: h, w: w,
		rnd: rng.NewSource(0, rng.Augment),
		pad: make([]float32, (h+2)*(w+2)),
	}
}

// transform is one draw: out = shift(flip(rotate(in))).
type transform struct {
	dx, dy int
	flip   bool
	angle  float64 // radians
}

// Apply writes into dst the perturbation of src that (seed, epoch, index)
// selects. Both hold at least h×w pixels; dst may be src. It allocates
// nothing.
func (a *Augmenter) Apply(dst, src []float32, seed uint64, epoch int, index int) {
	a.apply(dst, src, a.draw(seed, epoch, index))
}

func (a *Augmenter) draw(seed uint64, epoch, index int) transform {
	a.rnd.Reseed(seed, rng.Augment, uint64(epoch), uint64(index))
	r := a.rnd.Rand()
	var t transform
	if s := a.cfg.Shift; s > 0 {
		t.dx = r.IntN(2*s+1) - s
		t.dy = r.IntN(2*s+1) - s
	}
	if a.cfg.Flip {
		t.flip = r.Uint64()&1 == 1
	}
	if d := a.cfg.RotateDegrees; d > 0 {
		t.angle = (2*r.Float64() - 1) * d * math.Pi / 180
	}
	return t
}

func (a *Augmenter) apply(dst, src []float32, t transform) {
	n := a.h * a.w
	dst, src = dst[:n], src[:n]
	if t == (transform{}) {
		copy(dst, src)
		return
	}
	a.load(src)
	if t.angle == 0 {
		a.shiftFlip(dst, t)
	} else {
		a.warp(dst, t)
	}
}

// load copies src into the inside of pad.
func (a *Augmenter) load(src []float32) {
	pw := a.w + 2
	for y := range a.h {
		copy(a.pad[(y+1)*pw+1:(y+1)*pw+1+a.w], src[y*a.w:(y+1)*a.w])
	}
}

// shiftFlip moves whole pixels: no interpolation is needed without rotation.
func (a *Augmenter) shiftFlip(dst []float32, t transform) {
	h, w, pw := a.h, a.w, a.w+2
	for y := range h {
		row := dst[y*w : (y+1)*w]
		sy := y - t.dy
		if sy < 0 || sy >= h {
			clear(row)
			continue
		}
		srow := a.pad[(sy+1)*pw+1 : (sy+1)*pw+1+w]
		// Output x reads source x−dx, mirrored if flipped; lo..hi is where
		// that lands inside the image.
		lo, hi := max(0, t.dx), min(w, w+t.dx)
		if lo >= hi {
			clear(row)
			continue
		}
		clear(row[:lo])
		clear(row[hi:])
		if !t.flip {
			copy(row[lo:hi], srow[lo-t.dx:hi-t.dx])
			continue
		}
		for x := lo; x < hi; x++ {
			row[x] = srow[w-1-x+t.dx]
		}
	}
}

// warp samples the source bilinearly at the inverse image of each output
// pixel: undo the shift, then the flip, then rotate by −angle about the
// centre. The inverse is affine, (sx, sy) = (ax·x + bx·y + cx, ay·x + by·y + cy).
// Along a row it steps sx and sy in 16.16 fixed point, which replaces
// seven float–int conversions per pixel by two; the error, under 1e-3
// pixel, is invisible after interpolation.
func (a *Augmenter) warp(dst []float32, t transform) {
	const one = 1 << 16
	h, w, pw := a.h, a.w, a.w+2
	sin, cos := math.Sincos(t.angle)
	cxm, cym := float64(w-1)/2, float64(h-1)/2
	f, ox := 1.0, float64(-t.dx)
	if t.flip {
		f, ox = -1, float64(w-1+t.dx)
	}
	ax, bx := cos*f, sin
	ay, by := -sin*f, cos
	// +1 moves into pad's coordinates, where every readable point is
	// non-negative and the shift by 16 is a floor.
	cx := cos*(ox-cxm) + sin*(float64(-t.dy)-cym) + cxm + 1
	cy := -sin*(ox-cxm) + cos*(float64(-t.dy)-cym) + cym + 1
	stepX, stepY := fixed(ax), fixed(ay)
	xmax, ymax := (w+1)*one, (h+1)*one
	p := a.pad
	for y := range h {
		row := dst[y*w : (y+1)*w]
		sx, sy := fixed(bx*float64(y)+cx), fixed(by*float64(y)+cy)
		for x := range row {
			if sx <= 0 || sx >= xmax || sy <= 0 || sy >= ymax {
				row[x] = 0
			} else {
				i := (sy>>16)*pw + sx>>16
				fx := float32(sx&(one-1)) * (1.0 / one)
				fy := float32(sy&(one-1)) * (1.0 / one)
				q := p[i : i+pw+2 : i+pw+2]
				top := q[0] + fx*(q[1]-q[0])
				bot := q[pw] + fx*(q[pw+1]-q[pw])
				row[x] = top + fy*(bot-top)
			}
			sx += stepX
			sy += stepY
		}
	}
}

// fixed converts v to 16.16 fixed point, rounding to nearest.
func fixed(v float64) int {
	return int(math.Round(v * (1 << 16)))
}
