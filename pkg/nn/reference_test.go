package nn

import (
	"fmt"
	"math"
	"testing"
)

// refForward is a' = σ(W a + b), layer after layer, for one sample,
// written plainly: the output activations of network parameters p on
// input x.
func refForward(a Architecture, p, x []float64) []float64 {
	act, off := x, 0
	for _, l := range a.Layers {
		in := len(act)
		z := make([]float64, l.Units)
		for j := range z {
			for k := range in {
				z[j] += p[off+j*in+k] * act[k]
			}
			z[j] += p[off+l.Units*in+j]
		}
		off += l.Units * (in + 1)
		act = make([]float64, l.Units)
		switch l.Activation {
		case Softmax: // e^z_j / Σ e^z
			var sum float64
			for j := range z {
				sum += math.Exp(z[j])
			}
			for j := range z {
				act[j] = math.Exp(z[j]) / sum
			}
		case Sigmoid: // 1 / (1 + e^−z)
			for j := range z {
				act[j] = math.Exp(z[j]) / (1 + math.Exp(z[j]))
			}
		case Tanh:
			for j := range z {
				act[j] = math.Tanh(z[j])
			}
		case ReLU:
			for j := range z {
				act[j] = math.Max(z[j], 0)
			}
		case LeakyReLU:
			for j := range z {
				act[j] = z[j]
				if z[j] < 0 {
					act[j] = 0.01 * z[j]
				}
			}
		case Identity:
			copy(act, z)
		}
	}
	return act
}

// refCost is the mean cost of MSE (with ½), binary or categorical
// cross-entropy over the rows, plus the L1 and L2 penalties.
func refCost(a Architecture, p []float64, b Batch[float64], reg Regularization) float64 {
	in, out := a.Inputs, a.Outputs()
	rows := len(b.X) / in
	var c float64
	for r := range rows {
		act := refForward(a, p, b.X[r*in:(r+1)*in])
		y := b.Y[r*out : (r+1)*out]
		for j := range act {
			switch a.Cost {
			case MSE:
				c += (y[j] - act[j]) * (y[j] - act[j]) / 2
			case CrossEntropy:
				c -= y[j]*math.Log(act[j]) + (1-y[j])*math.Log(1-act[j])
			case CategoricalCrossEntropy:
				c -= y[j] * math.Log(act[j])
			}
		}
	}
	c /= float64(rows)
	off, nIn := 0, in
	for _, l := range a.Layers {
		for _, w := range p[off : off+l.Units*nIn] {
			if reg.N > 0 {
				c += reg.L1/float64(reg.N)*math.Abs(w) + reg.L2/(2*float64(reg.N))*w*w
			}
		}
		off += l.Units * (nIn + 1)
		nIn = l.Units
	}
	return c
}

// TestAgainstReference checks Forward and the cost Gradients returns against
// the plain per-sample formulas, for every activation and output pairing.
func TestAgainstReference(t *testing.T) {
	reg := Regularization{L1: 0.1, L2: 0.2, N: 50}
	for _, hid := range hiddenActivations {
		for _, c := range combos {
			name := fmt.Sprintf("%s-%s-%s", hid, c.out, c.cost)
			a := Architecture{
				Inputs: 3,
				Layers: []Layer{{Units: 6, Activation: hid}, {Units: 4, Activation: c.out}},
				Cost:   c.cost,
				Init:   Xavier,
			}
			n := newNet[float64](t, a, 21)
			b := randomBatch[float64](a, 5, 8)
			ws := NewWorkspace[float64](a, 5)

			out := n.Forward(ws, b.X, 5)
			for r := range 5 {
				want := refForward(a, n.Params(), b.X[r*3:(r+1)*3])
				for j, w := range want {
					if g := out[r*4+j]; math.Abs(g-w) > 1e-12*(1+math.Abs(w)) {
						t.Errorf("%s: output[%d][%d] got %v want %v", name, r, j, g, w)
					}
				}
			}
			got := n.Gradients(ws, b, make([]float64, n.NumParams()), reg, nil)
			if want := refCost(a, n.Params(), b, reg); math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
				t.Errorf("%s: cost got %v want %v", name, got, want)
			}
		}
	}
}
