package jobspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/optim"
)

// Spec is one training job.
type Spec struct {
	Name     string   `yaml:"name"`
	Dataset  Dataset  `yaml:"dataset"`
	Model    Model    `yaml:"model"`
	Training Training `yaml:"training"`
	Output   Output   `yaml:"output"`
}

// Dataset says where the examples come from.
type Dataset struct {
	// Name is fashion-mnist, idx, csv, or a synthetic set: xor, spirals,
	// blobs, curve.
	Name string `yaml:"name"`
	// Path is the directory holding Fashion-MNIST's IDX files.
	Path string `yaml:"path"`
	// Train and Test name the files of an idx or csv dataset.
	Train Files `yaml:"train"`
	Test  Files `yaml:"test"`
	// CSV options, for name: csv.
	Header      bool `yaml:"header"`
	LabelColumn int  `yaml:"label_column"`
	Regression  bool `yaml:"regression"`
	// Samples and TestSamples size a synthetic set.
	Samples     int `yaml:"samples"`
	TestSamples int `yaml:"test_samples"`
	// Validation is the fraction of the training set held out to select
	// the model and stop early; the test set is only reported.
	Validation float64 `yaml:"validation"`
	// Normalize scales the inputs: none, standard (each feature to mean 0,
	// standard deviation 1) or minmax (to [0, 1]), with statistics of the
	// training split; the model file keeps them for eval and predict.
	Normalize string `yaml:"normalize"`
	// NormalizeTargets standardises regression targets (mean 0, standard
	// deviation 1 on the training split) for training; scores and
	// predictions are in the targets' own units.
	NormalizeTargets bool `yaml:"normalize_targets"`
}

// Files names one split's files: images and labels for IDX, csv for CSV.
type Files struct {
	Images string `yaml:"images"`
	Labels string `yaml:"labels"`
	CSV    string `yaml:"csv"`
}

// Model is the network's architecture.
type Model struct {
	// Inputs, when set, must equal the dataset's width; it documents the
	// job and catches a spec written for other data.
	Inputs int     `yaml:"inputs"`
	Layers []Layer `yaml:"layers"`
	Cost   string  `yaml:"cost"`
	Init   string  `yaml:"init"`
}

// Layer is one dense layer.
type Layer struct {
	Units      int     `yaml:"units"`
	Activation string  `yaml:"activation"`
	Dropout    float64 `yaml:"dropout"`
}

// Training says how to fit the model.
type Training struct {
	Optimizer     Optimizer     `yaml:"optimizer"`
	Schedule      Schedule      `yaml:"schedule"`
	BatchSize     int           `yaml:"batch_size"`
	Epochs        int           `yaml:"epochs"`
	EarlyStopping EarlyStopping `yaml:"early_stopping"`
	L1            float64       `yaml:"l1"`
	L2            float64       `yaml:"l2"`
	Augment       Augment       `yaml:"augment"`
	Seed          uint64        `yaml:"seed"`
	// Precision is float32 (default, for speed) or float64.
	Precision string `yaml:"precision"`
	// TargetAccuracy, when set, is the test accuracy a run must reach; a run
	// that ends below it reports failure.
	TargetAccuracy float64 `yaml:"target_accuracy"`
}

// Optimizer chooses the update rule.
type Optimizer struct {
	Kind         string  `yaml:"kind"`
	LearningRate float64 `yaml:"learning_rate"`
	Momentum     float64 `yaml:"momentum"`
	Beta1        float64 `yaml:"beta1"`
	Beta2        float64 `yaml:"beta2"`
	Epsilon      float64 `yaml:"epsilon"`
}

// Schedule shapes the learning rate over time.
type Schedule struct {
	Kind         string  `yaml:"kind"`
	WarmupEpochs float64 `yaml:"warmup_epochs"`
	StepEvery    int     `yaml:"step_every"`
	Gamma        float64 `yaml:"gamma"`
	MinLR        float64 `yaml:"min_lr"`
}

// EarlyStopping stops a run after Patience epochs without a better
// validation score; 0 disables it.
type EarlyStopping struct {
	Patience int `yaml:"patience"`
}

// Augment perturbs image inputs, fresh for every (epoch, sample).
type Augment struct {
	Shift  int     `yaml:"shift"`
	Flip   bool    `yaml:"flip"`
	Rotate float64 `yaml:"rotate"`
}

// Output says where results go.
type Output struct {
	Dir string `yaml:"dir"`
}

// Architecture is the network the model describes for inputs features
// wide.
func (m Model) Architecture(inputs int) nn.Architecture {
	a := nn.Architecture{Inputs: inputs, Cost: nn.Cost(m.Cost), Init: nn.Init(m.Init)}
	for _, l := range m.Layers {
		a.Layers = append(a.Layers, nn.Layer{Units: l.Units, Activation: nn.Activation(l.Activation), Dropout: l.Dropout})
	}
	return a
}

// Config is the update rule the optimizer section asks for.
func (o Optimizer) Config() optim.Config {
	return optim.Config{Kind: o.Kind, Momentum: o.Momentum, Beta1: o.Beta1, Beta2: o.Beta2, Epsilon: o.Epsilon}
}

// LearningRates is the learning-rate schedule of training, for epochs of
// stepsPerEpoch steps.
func (t Training) LearningRates(stepsPerEpoch int) optim.Schedule {
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

// Load reads and parses the job spec at path.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("job spec %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes one YAML job document, fills defaults and validates it.
func Parse(b []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("decode: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; a job spec is one document")
	}
	s.applyDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}
