package train

import (
	"fmt"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

// Datasets are a job's three sets. Val may be nil when the spec holds no
// validation split.
type Datasets struct {
	Train, Val, Test *data.Dataset
	// Labels names the classes, when the dataset knows them.
	Labels []string
	// Scaler is how the inputs of all three were scaled
	// (dataset.normalize), with the training split's statistics; nil when
	// they are raw. A model trained on them keeps it.
	Scaler *data.Scaler
	// TargetScaler is how regression targets were standardised
	// (dataset.normalize_targets); nil when they are raw.
	TargetScaler *data.Scaler
}

// Units maps a network's outputs back to the targets' own units: nil
// when the targets are raw.
func (s *Datasets) Units() *nn.Units {
	if s.TargetScaler == nil {
		return nil
	}
	return &nn.Units{Offset: s.TargetScaler.Offset, Scale: s.TargetScaler.Scale}
}

// LoadData loads, splits, checks and scales the data the spec names: the
// sets training and its evaluation use.
func LoadData(spec *jobspec.Spec) (*Datasets, error) {
	sets, err := LoadRawData(spec)
	if err != nil {
		return nil, err
	}
	if k := spec.Dataset.Normalize; k != "" && k != data.ScaleNone {
		if sets.Scaler, err = data.FitScaler(k, sets.Train); err != nil {
			return nil, fmt.Errorf("dataset.normalize: %w", err)
		}
		if err := sets.ScaleWith(sets.Scaler); err != nil {
			return nil, err
		}
	}
	if spec.Dataset.NormalizeTargets {
		if sets.TargetScaler, err = data.FitTargetScaler(sets.Train); err != nil {
			return nil, fmt.Errorf("dataset.normalize_targets: %w", err)
		}
		if err := sets.ScaleTargetsWith(sets.TargetScaler); err != nil {
			return nil, err
		}
	}
	return sets, nil
}

// ScaleTargetsWith scales the regression targets of every set with sc.
func (s *Datasets) ScaleTargetsWith(sc *data.Scaler) error {
	for _, ds := range []*data.Dataset{s.Train, s.Val, s.Test} {
		if ds == nil {
			continue
		}
		if err := sc.ApplyTargets(ds); err != nil {
			return err
		}
	}
	return nil
}

// ScaleWith scales the inputs of every set with sc (a model's, for eval).
func (s *Datasets) ScaleWith(sc *data.Scaler) error {
	for _, ds := range []*data.Dataset{s.Train, s.Val, s.Test} {
		if ds == nil {
			continue
		}
		if err := sc.Apply(ds); err != nil {
			return err
		}
	}
	return nil
}

// LoadRawData is LoadData without the scaling: the inputs as the files
// have them.
func LoadRawData(spec *jobspec.Spec) (*Datasets, error) {
	d := spec.Dataset
	var (
		sets Datasets
		err  error
	)
	switch d.Name {
	case "fashion-mnist":
		sets.Train, sets.Test, err = data.FashionMNIST(d.Path)
		sets.Labels = data.FashionMNISTLabels
	case "idx":
		sets.Train, err = data.LoadIDX(d.Train.Images, d.Train.Labels)
		if err == nil && d.Test.Images != "" {
			sets.Test, err = data.LoadIDX(d.Test.Images, d.Test.Labels)
		}
	case "csv":
		opt := data.CSVOptions{Header: d.Header, LabelColumn: d.LabelColumn, Regression: d.Regression}
		sets.Train, err = data.LoadCSV(d.Train.CSV, opt)
		if err == nil && d.Test.CSV != "" {
			sets.Test, err = data.LoadCSV(d.Test.CSV, opt)
		}
	default:
		sets.Train, err = data.Synthetic(d.Name, d.Samples, spec.Training.Seed)
		if err == nil {
			// A different seed gives an independent test set of the same task.
			sets.Test, err = data.Synthetic(d.Name, d.TestSamples, spec.Training.Seed^0x5eed)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load dataset %s: %w", d.Name, err)
	}
	if d.Validation > 0 {
		if err := sets.holdOut(d.Validation, spec.Training.Seed); err != nil {
			return nil, err
		}
	}
	if sets.Train.Len() == 0 {
		return nil, fmt.Errorf("dataset %s: no training samples", d.Name)
	}
	shape := ShapeOf(sets.Train)
	if err := spec.CheckData(jobspec.DataShape{Features: shape.Features, Outputs: shape.Outputs, Image: shape.Image[0] > 0}); err != nil {
		return nil, err
	}
	for _, set := range []struct {
		name string
		ds   *data.Dataset
	}{{"validation", sets.Val}, {"test", sets.Test}} {
		other := set.ds
		if other == nil {
			continue
		}
		if other.Labels != nil && sets.Train.Labels != nil {
			// A set's classes are counted from its largest label: a test
			// set need not hold the last class to be scored on them all,
			// but may hold no class the training set lacks.
			if other.Classes > sets.Train.Classes {
				return nil, fmt.Errorf("dataset %s: %s set has label %d, the training set's labels are 0 to %d",
					d.Name, set.name, other.Classes-1, sets.Train.Classes-1)
			}
			other.Classes = sets.Train.Classes
		}
		if other.Features != shape.Features || other.TargetWidth() != shape.Outputs {
			return nil, fmt.Errorf("dataset %s: %s set has %d features and %d outputs, training set %d and %d",
				d.Name, set.name, other.Features, other.TargetWidth(), shape.Features, shape.Outputs)
		}
	}
	return &sets, nil
}

// holdOut moves a fraction of the training set to Val. It refuses a
// fraction that holds out no sample: every epoch would score 0 on an empty
// Val, so the first epoch's model would be kept whatever came after.
func (s *Datasets) holdOut(fraction float64, seed uint64) error {
	n := s.Train.Len()
	s.Train, s.Val = s.Train.Split(fraction, seed)
	if n > 0 && s.Val.Len() == 0 {
		return fmt.Errorf("dataset.validation: %g of %d training samples holds out none; want at least %.3g (one sample)",
			fraction, n, 1/float64(n))
	}
	return nil
}
