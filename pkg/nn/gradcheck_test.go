package nn

import (
	"fmt"
	"math"
	"testing"
)

// TestGradientCheck compares Gradients with central differences of the cost
// it returns, in float64, for every hidden activation with every valid
// output pairing, with and without L1, L2 and dropout (the masks are a
// function of the fixed Randomness, so they stay put while a parameter
// moves).
func TestGradientCheck(t *testing.T) {
	regs := []struct {
		name    string
		reg     Regularization
		dropout float64
	}{
		{"plain", Regularization{}, 0},
		{"l1", Regularization{L1: 0.5, N: 20}, 0},
		{"l2", Regularization{L2: 0.5, N: 20}, 0},
		{"dropout", Regularization{}, 0.3},
		{"all", Regularization{L1: 0.2, L2: 0.3, N: 20}, 0.3},
	}
	const rows, h, tol = 6, 1e-6, 1e-6
	for _, hid := range hiddenActivations {
		for _, c := range combos {
			for _, rg := range regs {
				name := fmt.Sprintf("%s-%s-%s/%s", hid, c.out, c.cost, rg.name)
				a := Architecture{
					Inputs: 4,
					Layers: []Layer{
						{Units: 5, Activation: hid, Dropout: rg.dropout},
						{Units: 4, Activation: hid, Dropout: rg.dropout},
						{Units: 3, Activation: c.out},
					},
					Cost: c.cost,
				}
				n := newNet[float64](t, a, 11)
				p := n.Params()
				for i, v := range p {
					// Keep weights off L1's kink at 0, and biases off 0 so
					// that they are tested too.
					if math.Abs(v) < 0.05 {
						p[i] = math.Copysign(0.05, v) + 0.01*float64(i%3)
					}
				}
				b := randomBatch[float64](a, rows, 5)
				ws := NewWorkspace[float64](a, rows)
				r := &Randomness{Seed: 3, Epoch: 2}
				got := make([]float64, len(p))
				n.Gradients(ws, b, got, rg.reg, r)

				scratch := make([]float64, len(p))
				var diff, norm float64
				worst, worstAt := 0.0, 0
				for i := range p {
					v := p[i]
					p[i] = v + h
					up := n.Gradients(ws, b, scratch, rg.reg, r)
					p[i] = v - h
					down := n.Gradients(ws, b, scratch, rg.reg, r)
					p[i] = v
					num := (up - down) / (2 * h)
					diff += (num - got[i]) * (num - got[i])
					norm += max(num*num, got[i]*got[i])
					if e := math.Abs(num-got[i]) / max(math.Abs(num), math.Abs(got[i]), 1e-3); e > worst {
						worst, worstAt = e, i
					}
				}
				if rel := math.Sqrt(diff / norm); rel > tol || worst > 10*tol || norm == 0 {
					t.Errorf("%s: relative error %.3g (worst parameter %d: %.3g), want ≤ %g", name, rel, worstAt, worst, tol)
				}
			}
		}
	}
}
