package train

import (
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

// Evaluator scores a network on whole datasets, holding each set's inputs
// and targets in T once rather than converting them every epoch.
type Evaluator[T nn.Float] struct {
	net  *nn.Network[T]
	ws   *nn.Workspace[T]
	val  *data.Dataset
	test *data.Dataset
	sets map[*data.Dataset][2][]T
	// units maps regression scores back to the targets' own units.
	units *nn.Units
}

// evalRows is the batch evaluation runs in: large enough for efficient GEMMs,
// small enough to keep the workspace modest.
const evalRows = 1024

// NewEvaluator returns an evaluator of net, whose parameters it reads at
// each call, on the validation and test sets of sets.
func NewEvaluator[T nn.Float](net *nn.Network[T], sets *Datasets) *Evaluator[T] {
	e := &Evaluator[T]{net: net, ws: nn.NewWorkspace[T](net.Arch(), evalRows), val: sets.Val, test: sets.Test, sets: map[*data.Dataset][2][]T{}, units: sets.Units()}
	for _, ds := range []*data.Dataset{sets.Val, sets.Test} {
		if ds != nil {
			e.sets[ds] = Tensors[T](ds)
		}
	}
	return e
}

// Tensors returns ds's inputs and targets (one-hot for classes) as T.
func Tensors[T nn.Float](ds *data.Dataset) [2][]T {
	idx := make([]int, ds.Len())
	for i := range idx {
		idx[i] = i
	}
	xs := make([]float32, ds.Len()*ds.Features)
	ys := make([]float32, ds.Len()*ds.TargetWidth())
	ds.Gather(idx, xs, ys)
	x, y := asT[T](xs), asT[T](ys)
	convert(x, xs)
	convert(y, ys)
	return [2][]T{x, y}
}

// Evaluate fills er's validation and test metrics.
func (e *Evaluator[T]) Evaluate(er *EpochReport) {
	er.Val, er.Test = e.Run(e.val), e.Run(e.test)
}

// Run returns the metrics of the network on ds, or nil for a nil ds.
func (e *Evaluator[T]) Run(ds *data.Dataset) *nn.Metrics {
	if ds == nil {
		return nil
	}
	xy, ok := e.sets[ds]
	if !ok {
		xy = Tensors[T](ds)
	}
	m := e.net.EvaluateIn(e.ws, xy[0], xy[1], ds.Len(), e.units)
	return &m
}

// Score orders validation results: accuracy for classes, lower loss for
// regression.
func Score(val *nn.Metrics) float64 {
	if val == nil {
		return 0
	}
	return validationScore(val.Loss, val.Accuracy, val.Confusion != nil)
}

func validationScore(loss, accuracy float64, classifies bool) float64 {
	if classifies {
		return accuracy
	}
	return -loss
}
