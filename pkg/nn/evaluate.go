package nn

import (
	"fmt"
	"math"
)

// Forward runs inference, without dropout, on rows×Inputs inputs x and returns
// the output activations (rows×Outputs): a view into ws, valid until its next
// use. It allocates nothing and panics if rows exceeds ws's capacity.
func (n *Network[T]) Forward(ws *Workspace[T], x []T, rows int) []T {
	n.checkInputs(x, rows, "Forward")
	ws.check(n, rows, "Forward")
	if rows > 0 {
		n.forward(ws, Batch[T]{X: x}, rows, false, nil)
	}
	return ws.a[len(ws.a)-1][:rows*n.arch.Outputs()]
}

func (n *Network[T]) checkInputs(x []T, rows int, op string) {
	if len(x) < rows*n.arch.Inputs {
		panic(fmt.Sprintf("nn: %s: len(x) = %d, want %d rows × %d inputs", op, len(x), rows, n.arch.Inputs))
	}
}

// Argmax writes into dst, grown if it is short, the column of the largest
// value of each row of out (rows×cols), the first on ties, and returns it.
func Argmax[T Float](out []T, rows, cols int, dst []int) []int {
	if cap(dst) < rows {
		dst = make([]int, rows)
	}
	dst = dst[:rows]
	for r := range dst {
		row := out[r*cols : (r+1)*cols]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		dst[r] = best
	}
	return dst
}

// Metrics summarises a model on a data set.
type Metrics struct {
	// Loss is the mean data cost, without the regularisation term.
	Loss float64
	// Accuracy is the fraction of rows whose predicted class is the true
	// one, and Confusion counts rows by [true class][predicted class]. They
	// are 0 and nil for regression (outputs other than sigmoid and
	// softmax). A class is the argmax of a row, or, for a single sigmoid
	// output, whether it is at least 0.5.
	Accuracy  float64
	Confusion [][]int
	// LabelAccuracy is, for sigmoid outputs (binary and multi-label
	// classification), each output's fraction of rows where the prediction
	// (≥ 0.5) is the target's (≥ 0.5); nil otherwise.
	LabelAccuracy []float64
	// RMSE, MAE and R2 score regression (outputs that are not classes), in
	// the targets' units, pooled over every output: the root mean squared
	// and the mean absolute error of a value, and the coefficient of
	// determination, 1 − Σ(ŷ−y)² / Σ(y−ȳ)² with ȳ each output's mean over
	// the rows (1 is perfect; 0, as good as predicting the mean). 0 for
	// classification. R2 is 0 too when the targets do not vary.
	RMSE, MAE, R2 float64
	// N is the number of rows.
	N int
}

// Units maps a regression network's outputs, and its targets, back to the
// targets' own units when they were scaled for training: y = y'/Scale[j] +
// Offset[j] for output j.
type Units struct {
	Offset, Scale []float64
}

// Evaluate runs the network without dropout over rows of inputs x and
// targets y, in batches of ws's size, and returns the metrics.
func (n *Network[T]) Evaluate(ws *Workspace[T], x []T, y []T, rows int) Metrics {
	return n.EvaluateIn(ws, x, y, rows, nil)
}

// EvaluateIn is Evaluate with regression scores (RMSE, MAE, R²) in the
// units u maps outputs and targets back to (nil: as they are). The loss
// stays the network's own.
func (n *Network[T]) EvaluateIn(ws *Workspace[T], x []T, y []T, rows int, u *Units) Metrics {
	in, out := n.arch.Inputs, n.arch.Outputs()
	n.checkInputs(x, rows, "Evaluate")
	if len(y) < rows*out {
		panic(fmt.Sprintf("nn: Evaluate: len(y) = %d, want %d rows × %d outputs", len(y), rows, out))
	}
	m := Metrics{N: rows}
	if rows == 0 {
		return m
	}
	nClasses := 0
	if n.arch.Classifies() {
		nClasses = max(out, 2)
		m.Confusion = make([][]int, nClasses)
		for i := range m.Confusion {
			m.Confusion[i] = make([]int, nClasses)
		}
	}
	var reg *regression
	if nClasses == 0 {
		reg = newRegression(out)
		if u != nil {
			if len(u.Scale) != out || len(u.Offset) != out {
				panic(fmt.Sprintf("nn: EvaluateIn: units of %d outputs for a network of %d", len(u.Scale), out))
			}
			reg.units = u
		}
	}
	sigmoid := n.arch.Layers[len(n.arch.Layers)-1].Activation == Sigmoid
	if sigmoid {
		m.LabelAccuracy = make([]float64, out)
	}
	for r := 0; r < rows; r += ws.maxRows {
		k := min(ws.maxRows, rows-r)
		ws.check(n, k, "Evaluate")
		xb, yb := x[r*in:(r+k)*in], y[r*out:(r+k)*out]
		m.Loss += n.forward(ws, Batch[T]{X: xb, Y: yb}, k, false, nil)
		if reg != nil {
			addRegression(reg, ws.a[len(ws.a)-1][:k*out], yb)
			continue
		}
		if sigmoid {
			for i, p := range ws.a[len(ws.a)-1][:k*out] {
				if (p >= 0.5) == (yb[i] >= 0.5) {
					m.LabelAccuracy[i%out]++
				}
			}
		}
		truth := Classes(yb, k, out, ws.truth)
		pred := Classes(ws.a[len(ws.a)-1][:k*out], k, out, ws.pred)
		for i := range k {
			m.Confusion[truth[i]][pred[i]]++
		}
	}
	m.Loss /= float64(rows)
	for j := range m.LabelAccuracy {
		m.LabelAccuracy[j] /= float64(rows)
	}
	if reg != nil {
		m.RMSE, m.MAE, m.R2 = reg.scores(rows)
	}
	if nClasses > 0 {
		correct := 0
		for c := range nClasses {
			correct += m.Confusion[c][c]
		}
		m.Accuracy = float64(correct) / float64(rows)
	}
	return m
}

// Classes writes into dst, grown if it is short, the class of each of rows
// rows of v (rows×cols), a classifier's outputs, and returns it: the
// argmax, or for a single column whether the value is at least 0.5.
func Classes[T Float](v []T, rows, cols int, dst []int) []int {
	if cols > 1 {
		return Argmax(v, rows, cols, dst)
	}
	if cap(dst) < rows {
		dst = make([]int, rows)
	}
	dst = dst[:rows]
	for r := range dst {
		dst[r] = 0
		if v[r] >= 0.5 {
			dst[r] = 1
		}
	}
	return dst
}

// regression accumulates the errors of predictions of out outputs.
type regression struct {
	out        int
	units      *Units    // to map values back, or nil
	sq, abs    float64   // Σ(ŷ−y)², Σ|ŷ−y| over every value
	sum, sumSq []float64 // Σy, Σy² of each output
}

func newRegression(out int) *regression {
	return &regression{out: out, sum: make([]float64, out), sumSq: make([]float64, out)}
}

// addRegression adds rows of predictions pred and targets y (rows×out).
func addRegression[T Float](g *regression, pred, y []T) {
	for i, p := range pred {
		t, q := float64(y[i]), float64(p)
		if u := g.units; u != nil {
			j := i % g.out
			t, q = t/u.Scale[j]+u.Offset[j], q/u.Scale[j]+u.Offset[j]
		}
		d := q - t
		g.sq += d * d
		g.abs += math.Abs(d)
		g.sum[i%g.out] += t
		g.sumSq[i%g.out] += t * t
	}
}

// scores returns RMSE, MAE and R² over rows rows.
func (g *regression) scores(rows int) (rmse, mae, r2 float64) {
	values := float64(rows * g.out)
	rmse, mae = math.Sqrt(g.sq/values), g.abs/values
	tot := 0.0
	for j := range g.out {
		tot += g.sumSq[j] - g.sum[j]*g.sum[j]/float64(rows)
	}
	if tot > 0 {
		r2 = 1 - g.sq/tot
	}
	return rmse, mae, r2
}
