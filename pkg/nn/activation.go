package nn

import (
	"math"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// leak is the slope of the leaky ReLU below zero.
const leak = 0.01

// activate overwrites z (rows×len(b)) with σ(z + b) and, when d is not nil,
// writes σ′(z + b) into d. One pass per row keeps the row in cache; the
// switch sits outside the loops so each loop is a tight one.
func activate[T Float](act Activation, z, d, b []T) {
	units := len(b)
	for r := 0; r < len(z); r += units {
		zr := z[r : r+units]
		var dr []T
		if d != nil {
			dr = d[r : r+units]
		}
		switch act {
		case ReLU:
			relu(zr, dr, b)
		case LeakyReLU:
			leakyReLU(zr, dr, b)
		case Sigmoid:
			for j, bj := range b {
				a := T(sigmoid(float64(zr[j] + bj)))
				zr[j] = a
				if dr != nil {
					dr[j] = a * (1 - a)
				}
			}
		case Tanh:
			for j, bj := range b {
				a := T(math.Tanh(float64(zr[j] + bj)))
				zr[j] = a
				if dr != nil {
					dr[j] = 1 - a*a
				}
			}
		case Identity:
			for j, bj := range b {
				zr[j] += bj
			}
			if dr != nil {
				for j := range dr {
					dr[j] = 1
				}
			}
		default:
			panic("nn: activate: " + string(act) + " is not a hidden-layer activation")
		}
	}
}

// relu and leakyReLU pick between two values by the sign bit of z + b
// rather than by a branch: on random signs a branch is mispredicted half the
// time, which once made ReLU an eighth of a training step.
func relu[T Float](z, d, b []T) {
	if precision.Is32[T]() {
		relu32(precision.AsFloat32(z), precision.AsFloat32(d), precision.AsFloat32(b))
	} else {
		relu64(precision.AsFloat64(z), precision.AsFloat64(d), precision.AsFloat64(b))
	}
}

func relu32(z, d, b []float32) {
	z = z[:len(b)]
	if d == nil {
		for j, bj := range b {
			v := math.Float32bits(z[j] + bj)
			z[j] = math.Float32frombits(v &^ uint32(int32(v)>>31))
		}
		return
	}
	d = d[:len(b)]
	for j, bj := range b {
		v := math.Float32bits(z[j] + bj)
		neg := uint32(int32(v) >> 31) // all ones when the sign bit is set
		z[j] = math.Float32frombits(v &^ neg)
		d[j] = math.Float32frombits(one32 &^ neg)
	}
}

func relu64(z, d, b []float64) {
	z = z[:len(b)]
	if d == nil {
		for j, bj := range b {
			v := math.Float64bits(z[j] + bj)
			z[j] = math.Float64frombits(v &^ uint64(int64(v)>>63))
		}
		return
	}
	d = d[:len(b)]
	for j, bj := range b {
		v := math.Float64bits(z[j] + bj)
		neg := uint64(int64(v) >> 63)
		z[j] = math.Float64frombits(v &^ neg)
		d[j] = math.Float64frombits(one64 &^ neg)
	}
}

func leakyReLU[T Float](z, d, b []T) {
	if precision.Is32[T]() {
		leakyReLU32(precision.AsFloat32(z), precision.AsFloat32(d), precision.AsFloat32(b))
	} else {
		leakyReLU64(precision.AsFloat64(z), precision.AsFloat64(d), precision.AsFloat64(b))
	}
}

func leakyReLU32(z, d, b []float32) {
	z = z[:len(b)]
	one, slope := uint32(one32), math.Float32bits(leak)
	for j, bj := range b {
		v := z[j] + bj
		neg := uint32(int32(math.Float32bits(v)) >> 31)
		g := math.Float32frombits(one ^ (one^slope)&neg)
		z[j] = g * v
		if d != nil {
			d[j] = g
		}
	}
}

func leakyReLU64(z, d, b []float64) {
	z = z[:len(b)]
	one, slope := uint64(one64), math.Float64bits(leak)
	for j, bj := range b {
		v := z[j] + bj
		neg := uint64(int64(math.Float64bits(v)) >> 63)
		g := math.Float64frombits(one ^ (one^slope)&neg)
		z[j] = g * v
		if d != nil {
			d[j] = g
		}
	}
}

// sigmoid is 1/(1+e^−v), computed without overflowing e^−v for large |v|.
func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// scalar returns σ(v) and σ′(v) for the element-wise activations.
func scalar(act Activation, v float64) (a, d float64) {
	switch act {
	case Sigmoid:
		a = sigmoid(v)
		return a, a * (1 - a)
	case Tanh:
		a = math.Tanh(v)
		return a, 1 - a*a
	case ReLU:
		if v > 0 {
			return v, 1
		}
		return 0, 0
	case LeakyReLU:
		if v > 0 {
			return v, 1
		}
		return leak * v, leak
	default: // Identity
		return v, 1
	}
}

// softmax writes softmax(v) into a for one row and returns ln Σ_j e^(v_j),
// computed from v − max(v) so that no exponential overflows.
func softmax[T Float](v, a []T) (lse float64) {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	var sum float64
	for j, x := range v {
		e := math.Exp(float64(x - m))
		a[j] = T(e)
		sum += e
	}
	inv := 1 / sum
	for j := range a {
		a[j] = T(float64(a[j]) * inv)
	}
	return float64(m) + math.Log(sum)
}
