package nn

import (
	"fmt"

	"github.com/ringtrain/ringtrain/internal/rng"
)

// Workspace holds the buffers of forward and backward passes over up to
// maxRows rows: activations, activation derivatives and errors per layer. One
// Workspace serves one goroutine; sized once, it makes every later pass
// allocation-free.
type Workspace[T Float] struct {
	inputs  int
	units   []int
	maxRows int
	a       [][]T // per layer: activations (after dropout when training)
	d       [][]T // per hidden layer: σ′(z), times the dropout scale or 0
	delta   [][]T // per layer: δ = ∂C/∂z
	ones    []T   // maxRows ones: a bias gradient is δᵀ·1
	src     *rng.Source
	truth   []int // classes of targets and of predictions, for Evaluate
	pred    []int
}

// NewWorkspace returns a Workspace for networks of architecture a and batches
// of at most maxRows rows. It panics if a is invalid or maxRows < 1: both are
// the caller's to check.
func NewWorkspace[T Float](a Architecture, maxRows int) *Workspace[T] {
	if err := a.Validate(); err != nil {
		panic(fmt.Sprintf("nn: NewWorkspace: invalid architecture: %v", err))
	}
	if maxRows < 1 {
		panic(fmt.Sprintf("nn: NewWorkspace: maxRows %d < 1", maxRows))
	}
	ws := &Workspace[T]{
		inputs:  a.Inputs,
		maxRows: maxRows,
		ones:    make([]T, maxRows),
		src:     rng.NewSource(0, rng.Dropout),
		truth:   make([]int, maxRows),
		pred:    make([]int, maxRows),
	}
	for i := range ws.ones {
		ws.ones[i] = 1
	}
	for i, l := range a.Layers {
		ws.units = append(ws.units, l.Units)
		ws.a = append(ws.a, make([]T, maxRows*l.Units))
		ws.delta = append(ws.delta, make([]T, maxRows*l.Units))
		if i < len(a.Layers)-1 {
			ws.d = append(ws.d, make([]T, maxRows*l.Units))
		}
	}
	return ws
}

// check panics unless ws fits network n and rows.
func (ws *Workspace[T]) check(n *Network[T], rows int, op string) {
	ok := ws.inputs == n.arch.Inputs && len(ws.units) == len(n.layers)
	for i := 0; ok && i < len(n.layers); i++ {
		ok = ws.units[i] == n.layers[i].out
	}
	if !ok {
		panic(fmt.Sprintf("nn: %s: workspace was made for another architecture", op))
	}
	if rows < 0 || rows > ws.maxRows {
		panic(fmt.Sprintf("nn: %s: %d rows, workspace holds up to %d", op, rows, ws.maxRows))
	}
}
