package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Synthetic generates a small dataset for tests and demos. Row i depends only
// on (seed, set, i), so a larger n extends a smaller set. Names:
//
//   - "xor": the four XOR points (0,0)→0, (1,0)→1, (0,1)→1, (1,1)→0 in
//     turn, each coordinate jittered by at most ±0.05, so 100% is reachable;
//   - "spirals": two interleaved spirals of 1.5 turns, classes alternating;
//   - "blobs" or "blobs:K": K (default 3, at most 100) Gaussian blobs of
//     σ 0.5 whose centres are spaced on a circle, classes in turn;
//   - "curve": regression of y = sin(x), x uniform in [-π, π].
//
// All have two features and a label except curve, which has one feature and
// one target.
func Synthetic(name string, n int, seed uint64) (*Dataset, error) {
	set, err := syntheticSet(name)
	if err != nil {
		return nil, fmt.Errorf("synthetic: %w", err)
	}
	if n < 1 {
		return nil, fmt.Errorf("synthetic %s: need at least 1 row, got %d", name, n)
	}
	d := &Dataset{Name: name, Features: set.features, Classes: set.classes}
	d.X = make([]float32, n*set.features)
	if set.classes > 0 {
		d.Labels = make([]int, n)
	} else {
		d.Targets = make([]float32, n)
	}
	src := rng.NewSource(seed, rng.Synthetic)
	for i := range n {
		src.Reseed(seed, rng.Synthetic, set.tag, uint64(i))
		label, target := set.row(src.Rand(), i, d.X[i*set.features:(i+1)*set.features])
		if d.Labels != nil {
			d.Labels[i] = label
		} else {
			d.Targets[i] = target
		}
	}
	return d, nil
}

// synthetic describes one synthetic set; row fills x for row i and returns
// its label or target.
type synthetic struct {
	tag      uint64 // separates the streams of different sets drawn with one seed
	features int
	classes  int // 0 for regression
	row      func(r *rand.Rand, i int, x []float32) (label int, target float32)
}

func syntheticSet(name string) (synthetic, error) {
	switch name {
	case "xor":
		return synthetic{1, 2, 2, xorRow}, nil
	case "spirals":
		return synthetic{2, 2, 2, spiralRow}, nil
	case "curve":
		return synthetic{4, 1, 0, curveRow}, nil
	}
	k := 3
	if arg, ok := strings.CutPrefix(name, "blobs:"); ok {
		var err error
		if k, err = strconv.Atoi(arg); err != nil || k < 2 || k > 100 {
			return synthetic{}, fmt.Errorf("%s: blob count must be an integer in [2, 100]", name)
		}
	} else if name != "blobs" {
		return synthetic{}, fmt.Errorf("unknown set %q (want xor, spirals, blobs, blobs:K or curve)", name)
	}
	// Neighbouring centres at least 6σ apart, so the classes separate.
	radius := max(3, 0.5*float64(k))
	return synthetic{3, 2, k, func(r *rand.Rand, i int, x []float32) (int, float32) {
		c := i % k
		angle := 2 * math.Pi * float64(c) / float64(k)
		x[0] = float32(radius*math.Cos(angle) + 0.5*r.NormFloat64())
		x[1] = float32(radius*math.Sin(angle) + 0.5*r.NormFloat64())
		return c, 0
	}}, nil
}

func xorRow(r *rand.Rand, i int, x []float32) (int, float32) {
	a, b := i&1, i>>1&1
	x[0] = float32(a) + float32(0.1*(r.Float64()-0.5))
	x[1] = float32(b) + float32(0.1*(r.Float64()-0.5))
	return a ^ b, 0
}

func spiralRow(r *rand.Rand, i int, x []float32) (int, float32) {
	c := i & 1
	t := r.Float64()
	radius, angle := 0.1+0.9*t, 3*math.Pi*t+float64(c)*math.Pi
	x[0] = float32(radius*math.Cos(angle) + 0.01*r.NormFloat64())
	x[1] = float32(radius*math.Sin(angle) + 0.01*r.NormFloat64())
	return c, 0
}

// curveRow takes the sine of x as stored (float32), so that the target is
// exactly sin of the input the network sees.
func curveRow(r *rand.Rand, _ int, x []float32) (int, float32) {
	x[0] = float32(math.Pi * (2*r.Float64() - 1))
	return 0, float32(math.Sin(float64(x[0])))
}
