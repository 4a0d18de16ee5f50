package jobspec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
	"github.com/ringtrain/ringtrain/pkg/precision"
)

// The dataset names a spec may use; synthetic sets come from a seed and
// need no files. The names of activations, costs, inits, optimisers and
// schedules are pkg/nn's and pkg/optim's, and so are their rules.
var (
	datasetNames   = []string{"fashion-mnist", "idx", "csv", "xor", "spirals", "blobs", "curve"}
	syntheticNames = []string{"xor", "spirals", "blobs", "curve"}
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
		m.Init = string(nn.Gaussian)
	}
	if m.Cost == "" && len(m.Layers) > 0 {
		m.Cost = string(nn.DefaultCost(nn.Activation(m.Layers[len(m.Layers)-1].Activation)))
	}
	t := &s.Training
	o := &t.Optimizer
	c := o.Config().WithDefaults()
	o.Kind, o.Momentum, o.Beta1, o.Beta2, o.Epsilon = c.Kind, c.Momentum, c.Beta1, c.Beta2, c.Epsilon
	if t.Schedule.Kind == "" {
		t.Schedule.Kind = optim.Constant
	}
	if t.Schedule.Kind == optim.StepDecay && t.Schedule.Gamma == 0 {
		t.Schedule.Gamma = optim.DefaultGamma
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

// MaxEpochs bounds training.epochs: far more than any job trains for, and
// within the 32-bit counts the coordinator's API reports epochs in.
const MaxEpochs = 1_000_000

// MaxSyntheticSamples bounds the size of a synthetic set, which every
// process that loads the job generates in memory.
const MaxSyntheticSamples = 10_000_000

// problems collects every invalid field so a user fixes a spec in one pass.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// under adds err's problems, each named by its field below prefix: err
// comes from a package that names fields as they are below prefix.
func (p *problems) under(prefix string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			p.under(prefix, e)
		}
		return
	}
	*p = append(*p, fmt.Errorf("%s%w", prefix, err))
}

func (p *problems) oneOf(field, got string, allowed []string) {
	if !slices.Contains(allowed, got) {
		p.add(field, "%q is not one of %s", got, strings.Join(allowed, ", "))
	}
}

// inRange adds a problem unless lo ≤ v ≤ hi (v < hi if hiOpen). It is
// written so that NaN, which YAML spells .nan, fails it.
func (p *problems) inRange(field string, v, lo, hi float64, hiOpen bool) {
	if !(v >= lo && v <= hi) || (hiOpen && v == hi) {
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
		if d.Samples < 4 || d.Samples > MaxSyntheticSamples {
			p.add("dataset.samples", "%d not in [4, %d]", d.Samples, MaxSyntheticSamples)
		}
		if d.TestSamples < 1 || d.TestSamples > MaxSyntheticSamples {
			p.add("dataset.test_samples", "%d not in [1, %d]", d.TestSamples, MaxSyntheticSamples)
		}
	}
	p.inRange("dataset.validation", d.Validation, 0, 1, true)
}

func (s *Spec) validateModel(p *problems) {
	inputs := s.Model.Inputs
	if inputs == 0 {
		inputs = 1 // the data decide (CheckData); check the rest
	}
	p.under("model.", s.Model.Architecture(inputs).Validate())
}

func (s *Spec) validateTraining(p *problems) {
	t := s.Training
	o := t.Optimizer
	p.under("training.", o.Config().Validate())
	if !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0) {
		p.add("training.optimizer.learning_rate", "%g, want a finite number > 0", o.LearningRate)
	}
	sc := t.Schedule
	p.oneOf("training.schedule.kind", sc.Kind, optim.ScheduleKinds)
	if !(sc.WarmupEpochs >= 0 && sc.WarmupEpochs <= float64(t.Epochs)) {
		p.add("training.schedule.warmup_epochs", "%g not in [0, epochs=%d]", sc.WarmupEpochs, t.Epochs)
	}
	if sc.Kind == "step" && sc.StepEvery <= 0 {
		p.add("training.schedule.step_every", "%d, want > 0 epochs for a step schedule", sc.StepEvery)
	}
	p.inRange("training.schedule.gamma", sc.Gamma, 0, 1, false)
	if !(sc.MinLR >= 0) || (o.LearningRate > 0 && sc.MinLR > o.LearningRate) {
		p.add("training.schedule.min_lr", "%g not in [0, learning_rate=%g]", sc.MinLR, o.LearningRate)
	}
	if t.BatchSize <= 0 {
		p.add("training.batch_size", "%d, want > 0", t.BatchSize)
	}
	if t.Epochs <= 0 || t.Epochs > MaxEpochs {
		p.add("training.epochs", "%d not in [1, %d]", t.Epochs, MaxEpochs)
	}
	if t.EarlyStopping.Patience < 0 {
		p.add("training.early_stopping.patience", "%d, want >= 0", t.EarlyStopping.Patience)
	}
	if t.EarlyStopping.Patience > 0 && s.Dataset.Validation == 0 {
		p.add("training.early_stopping.patience", "early stopping needs a validation split (dataset.validation > 0)")
	}
	if !(t.L1 >= 0) || math.IsInf(t.L1, 0) {
		p.add("training.l1", "%g, want a finite number >= 0", t.L1)
	}
	if !(t.L2 >= 0) || math.IsInf(t.L2, 0) {
		p.add("training.l2", "%g, want a finite number >= 0", t.L2)
	}
	if t.Augment.Shift < 0 || t.Augment.Shift > 8 {
		p.add("training.augment.shift", "%d not in [0, 8] pixels", t.Augment.Shift)
	}
	p.inRange("training.augment.rotate", t.Augment.Rotate, 0, 45, false)
	p.oneOf("training.precision", t.Precision, precision.Names)
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
