package train

import (
	"math"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
)

// Shape is what a replica needs to know of the data it trains on.
type Shape struct {
	Features int
	Outputs  int
	// Image is (height, width) for image data, zero otherwise.
	Image [2]int
}

// ShapeOf returns the shape of ds.
func ShapeOf(ds *data.Dataset) Shape {
	return Shape{Features: ds.Features, Outputs: ds.TargetWidth(), Image: ds.Shape}
}

// Architecture is the network the spec describes for inputs features wide.
func Architecture(spec *jobspec.Spec, inputs int) nn.Architecture {
	a := nn.Architecture{Inputs: inputs, Cost: nn.Cost(spec.Model.Cost), Init: nn.Init(spec.Model.Init)}
	for _, l := range spec.Model.Layers {
		a.Layers = append(a.Layers, nn.Layer{Units: l.Units, Activation: nn.Activation(l.Activation), Dropout: l.Dropout})
	}
	return a
}

// OptimizerConfig is the update rule the spec asks for.
func OptimizerConfig(spec *jobspec.Spec) optim.Config {
	o := spec.Training.Optimizer
	return optim.Config{Kind: o.Kind, Momentum: o.Momentum, Beta1: o.Beta1, Beta2: o.Beta2, Epsilon: o.Epsilon}
}

// Schedule is the spec's learning-rate schedule for an epoch of
// stepsPerEpoch steps.
func Schedule(spec *jobspec.Spec, stepsPerEpoch int) optim.Schedule {
	t := spec.Training
	return optim.Schedule{
		Kind:        t.Schedule.Kind,
		Base:        t.Optimizer.LearningRate,
		WarmupSteps: int(math.Round(t.Schedule.WarmupEpochs * float64(stepsPerEpoch))),
		StepEvery:   t.Schedule.StepEvery,
		Gamma:       t.Schedule.Gamma,
		TotalSteps:  t.Epochs * stepsPerEpoch,
		Min:         t.Schedule.MinLR,
	}
}
