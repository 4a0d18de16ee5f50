package jobspec

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// The names a spec may use. Synthetic sets come from a seed and need no files.
var (
	datasetNames   = []string{"fashion-mnist", "idx", "csv", "xor", "spirals", "blobs", "curve"}
	syntheticNames = []string{"xor", "spirals", "blobs", "curve"}
	activations    = []string{"sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"}
	costs          = []string{"mse", "cross_entropy", "categorical_cross_entropy"}
	inits          = []string{"gaussian", "he", "xavier"}
	optimizers     = []string{"sgd", "momentum", "nesterov", "adam"}
	schedules      = []string{"constant", "step", "cosine"}
	precisions     = precision.Names
	normalizations = []string{"none", "standard", "minmax"}
)

// IsSynthetic reports whether the dataset is generated rather than read.
func (d Dataset) IsSynthetic() bool { return slices.Contains(syntheticNames, d.Name) }

func (s *Spec) applyDefaults() {
	if s.Name == "" {
		s.Name = "job"
	}
	if s.Dataset.IsSynthetic() {
		if s.Dataset.Samples == 0 {
			s.Dataset.Samples = 1000
		}
		if s.Dataset.TestSamples == 0 {
			s.Dataset.TestSamples = s.Dataset.Samples / 4
		}
	}
	m := &s.Model
	if m.Init == "" {
		m.Init = "gaussian"
	}
	if m.Cost == "" && len(m.Layers) > 0 {
		switch m.Layers[len(m.Layers)-1].Activation {
		case "softmax":
			m.Cost = "categorical_cross_entropy"
		case "sigmoid":
			m.Cost = "cross_entropy"
		default:
			m.Cost = "mse"
		}
	}
	t := &s.Training
	o := &t.Optimizer
	if o.Kind == "" {
		o.Kind = "sgd"
	}
	if o.Momentum == 0 && (o.Kind == "momentum" || o.Kind == "nesterov") {
		o.Momentum = 0.9
	}
	if o.Kind == "adam" {
		if o.Beta1 == 0 {
			o.Beta1 = 0.9
		}
		if o.Beta2 == 0 {
			o.Beta2 = 0.999
		}
		if o.Epsilon == 0 {
			o.Epsilon = 1e-8
		}
	}
	if t.Schedule.Kind == "" {
		t.Schedule.Kind = "constant"
	}
	if t.Schedule.Kind == "step" && t.Schedule.Gamma == 0 {
		t.Schedule.Gamma = 0.1
	}
	if t.BatchSize == 0 {
		t.BatchSize = 32
	}
	if t.Epochs == 0 {
		t.Epochs = 10
	}
	if t.Precision == "" {
		t.Precision = precision.Float32
	}
	if s.Output.Dir == "" {
		s.Output.Dir = "runs/" + s.Name
	}
	if s.Dataset.Normalize == "" {
		s.Dataset.Normalize = "none"
	}
}

// problems collects every invalid field so a user fixes a spec in one pass.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p *problems) oneOf(field, got string, allowed []string) {
	if !slices.Contains(allowed, got) {
		p.add(field, "%q is not one of %s", got, strings.Join(allowed, ", "))
	}
}

func (p *problems) inRange(field string, v, lo, hi float64, hiOpen bool) {
	if v < lo || v > hi || (hiOpen && v == hi) {
		closing := "]"
		if hiOpen {
			closing = ")"
		}
		p.add(field, "%g not in [%g, %g%s", v, lo, hi, closing)
	}
}

// Validate checks every field that can be checked without the data.
func (s *Spec) Validate() error {
	var p problems
	s.validateDataset(&p)
	s.validateModel(&p)
	s.validateTraining(&p)
	return errors.Join(p...)
}

func (s *Spec) validateDataset(p *problems) {
	d := s.Dataset
	p.oneOf("dataset.name", d.Name, datasetNames)
	p.oneOf("dataset.normalize", d.Normalize, normalizations)
	switch d.Name {
	case "idx":
		if d.Train.Images == "" || d.Train.Labels == "" {
			p.add("dataset.train", "idx needs images and labels")
		}
		if (d.Test.Images == "") != (d.Test.Labels == "") {
			p.add("dataset.test", "idx needs both images and labels, or neither")
		}
	case "csv":
		if d.Train.CSV == "" {
			p.add("dataset.train.csv", "csv needs a training file")
		}
	}
	if d.IsSynthetic() {
		if d.Samples < 4 {
			p.add("dataset.samples", "%d, want at least 4", d.Samples)
		}
		if d.TestSamples < 1 {
			p.add("dataset.test_samples", "%d, want at least 1", d.TestSamples)
		}
	}
	p.inRange("dataset.validation", d.Validation, 0, 1, true)
}

func (s *Spec) validateModel(p *problems) {
	m := s.Model
	if m.Inputs < 0 {
		p.add("model.inputs", "%d, want > 0", m.Inputs)
	}
	if len(m.Layers) == 0 {
		p.add("model.layers", "a model needs at least the output layer")
	}
	for i, l := range m.Layers {
		f := fmt.Sprintf("model.layers[%d]", i)
		if l.Units <= 0 {
			p.add(f+".units", "%d, want > 0", l.Units)
		}
		p.oneOf(f+".activation", l.Activation, activations)
		last := i == len(m.Layers)-1
		if l.Activation == "softmax" && !last {
			p.add(f+".activation", "softmax is only for the output layer")
		}
		p.inRange(f+".dropout", l.Dropout, 0, 1, true)
		if last && l.Dropout != 0 {
			p.add(f+".dropout", "the output layer takes no dropout")
		}
	}
	p.oneOf("model.cost", m.Cost, costs)
	p.oneOf("model.init", m.Init, inits)
	if len(m.Layers) == 0 {
		return
	}
	out := m.Layers[len(m.Layers)-1].Activation
	switch {
	case m.Cost == "categorical_cross_entropy" && out != "softmax":
		p.add("model.cost", "categorical_cross_entropy needs a softmax output layer, not %s", out)
	case m.Cost == "cross_entropy" && out != "sigmoid":
		p.add("model.cost", "cross_entropy needs a sigmoid output layer, not %s (use categorical_cross_entropy with softmax)", out)
	case m.Cost == "mse" && out == "softmax":
		p.add("model.cost", "a softmax output layer needs categorical_cross_entropy")
	}
}

func (s *Spec) validateTraining(p *problems) {
	t := s.Training
	o := t.Optimizer
	p.oneOf("training.optimizer.kind", o.Kind, optimizers)
	if o.LearningRate <= 0 {
		p.add("training.optimizer.learning_rate", "%g, want > 0", o.LearningRate)
	}
	p.inRange("training.optimizer.momentum", o.Momentum, 0, 1, true)
	p.inRange("training.optimizer.beta1", o.Beta1, 0, 1, true)
	p.inRange("training.optimizer.beta2", o.Beta2, 0, 1, true)
	if o.Epsilon < 0 {
		p.add("training.optimizer.epsilon", "%g, want >= 0", o.Epsilon)
	}
	sc := t.Schedule
	p.oneOf("training.schedule.kind", sc.Kind, schedules)
	if sc.WarmupEpochs < 0 || sc.WarmupEpochs > float64(t.Epochs) {
		p.add("training.schedule.warmup_epochs", "%g not in [0, epochs=%d]", sc.WarmupEpochs, t.Epochs)
	}
	if sc.Kind == "step" && sc.StepEvery <= 0 {
		p.add("training.schedule.step_every", "%d, want > 0 epochs for a step schedule", sc.StepEvery)
	}
	p.inRange("training.schedule.gamma", sc.Gamma, 0, 1, false)
	if sc.MinLR < 0 || (o.LearningRate > 0 && sc.MinLR > o.LearningRate) {
		p.add("training.schedule.min_lr", "%g not in [0, learning_rate=%g]", sc.MinLR, o.LearningRate)
	}
	if t.BatchSize <= 0 {
		p.add("training.batch_size", "%d, want > 0", t.BatchSize)
	}
	if t.Epochs <= 0 {
		p.add("training.epochs", "%d, want > 0", t.Epochs)
	}
	if t.EarlyStopping.Patience < 0 {
		p.add("training.early_stopping.patience", "%d, want >= 0", t.EarlyStopping.Patience)
	}
	if t.EarlyStopping.Patience > 0 && s.Dataset.Validation == 0 {
		p.add("training.early_stopping.patience", "early stopping needs a validation split (dataset.validation > 0)")
	}
	if t.L1 < 0 {
		p.add("training.l1", "%g, want >= 0", t.L1)
	}
	if t.L2 < 0 {
		p.add("training.l2", "%g, want >= 0", t.L2)
	}
	if t.Augment.Shift < 0 || t.Augment.Shift > 8 {
		p.add("training.augment.shift", "%d not in [0, 8] pixels", t.Augment.Shift)
	}
	p.inRange("training.augment.rotate", t.Augment.Rotate, 0, 45, false)
	p.oneOf("training.precision", t.Precision, precisions)
	p.inRange("training.target_accuracy", t.TargetAccuracy, 0, 1, false)
}

// DataShape is what CheckData needs to know of a loaded training set.
type DataShape struct {
	Features int
	// Outputs is the number of classes, or the target width for regression.
	Outputs int
	Image   bool
}

// CheckData checks the spec against the loaded data.
func (s *Spec) CheckData(d DataShape) error {
	var p problems
	if s.Model.Inputs != 0 && s.Model.Inputs != d.Features {
		p.add("model.inputs", "%d, but dataset %s has %d features", s.Model.Inputs, s.Dataset.Name, d.Features)
	}
	if n := len(s.Model.Layers); n > 0 && s.Model.Layers[n-1].Units != d.Outputs {
		p.add(fmt.Sprintf("model.layers[%d].units", n-1), "%d, but dataset %s has %d outputs (classes or targets)", s.Model.Layers[n-1].Units, s.Dataset.Name, d.Outputs)
	}
	a := s.Training.Augment
	if !d.Image && (a.Shift != 0 || a.Flip || a.Rotate != 0) {
		p.add("training.augment", "augmentation needs image data; dataset %s is not images", s.Dataset.Name)
	}
	return errors.Join(p...)
}
