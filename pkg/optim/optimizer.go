package optim

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ringtrain/ringtrain/pkg/precision"
)

// Float is the element type of parameters and gradients. It has the same type
// set as nn.Float, so an nn.Network[T] and an Optimizer[T] share T, without
// this package importing pkg/nn.
type Float = precision.Float

// Optimizer kinds.
const (
	SGD      = "sgd"
	Momentum = "momentum"
	Nesterov = "nesterov"
	Adam     = "adam"
)

// Kinds lists the optimiser kinds, ScheduleKinds the schedule kinds: the
// names a job spec may use, read by its validation.
var (
	Kinds         = []string{SGD, Momentum, Nesterov, Adam}
	ScheduleKinds = []string{Constant, StepDecay, Cosine}
)

// Defaults used where a Config field is zero.
const (
	DefaultMomentum = 0.9
	DefaultBeta1    = 0.9
	DefaultBeta2    = 0.999
	DefaultEpsilon  = 1e-8
)

// Config selects an optimiser. A zero field takes its default, so the zero
// Config is plain SGD and Config{Kind: "adam"} is Adam with β1 0.9, β2 0.999
// and ε 1e-8. Fields the kind does not use are ignored.
type Config struct {
	Kind     string  // "sgd" (also ""), "momentum", "nesterov" or "adam"
	Momentum float64 // μ for momentum and nesterov
	Beta1    float64 // Adam's first-moment decay
	Beta2    float64 // Adam's second-moment decay
	Epsilon  float64 // Adam's denominator guard
}

// WithDefaults returns c with its zero fields set to their defaults: the
// kind to SGD, and the fields the kind uses to the Default constants.
func (c Config) WithDefaults() Config {
	if c.Kind == "" {
		c.Kind = SGD
	}
	if c.Momentum == 0 && (c.Kind == Momentum || c.Kind == Nesterov) {
		c.Momentum = DefaultMomentum
	}
	if c.Kind == Adam {
		if c.Beta1 == 0 {
			c.Beta1 = DefaultBeta1
		}
		if c.Beta2 == 0 {
			c.Beta2 = DefaultBeta2
		}
		if c.Epsilon == 0 {
			c.Epsilon = DefaultEpsilon
		}
	}
	return c
}

// Validate reports everything wrong with c once its zero fields have
// taken their defaults (errors.Join of one error a problem), each error
// starting with the field's name as a job spec names it below training:
// "optimizer.momentum: ...".
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	switch c.Kind {
	case SGD:
	case Momentum, Nesterov:
		errs = append(errs, unitInterval("optimizer.momentum", c.Momentum))
	case Adam:
		errs = append(errs, unitInterval("optimizer.beta1", c.Beta1), unitInterval("optimizer.beta2", c.Beta2))
		if !(c.Epsilon > 0) || math.IsInf(c.Epsilon, 0) {
			errs = append(errs, fmt.Errorf("optimizer.epsilon: must be positive and finite, got %v", c.Epsilon))
		}
	default:
		errs = append(errs, fmt.Errorf("optimizer.kind: unknown %q (want %s)", c.Kind, strings.Join(Kinds, ", ")))
	}
	return errors.Join(errs...)
}

func unitInterval(field string, v float64) error {
	if !(v >= 0 && v < 1) {
		return fmt.Errorf("%s: must be in [0, 1), got %v", field, v)
	}
	return nil
}

// Optimizer updates a parameter slice of fixed length from gradients of the
// same layout. It is used by one goroutine at a time.
type Optimizer[T Float] struct {
	cfg   Config
	n     int
	state []T // momentum, nesterov: v; adam: m then v
	steps int64
}

// New returns an optimiser for nParams parameters with zero moments.
func New[T Float](cfg Config, nParams int) (*Optimizer[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new optimizer: %w", err)
	}
	if nParams < 0 {
		return nil, fmt.Errorf("new optimizer: negative parameter count %d", nParams)
	}
	cfg = cfg.WithDefaults()
	o := &Optimizer[T]{cfg: cfg, n: nParams}
	switch cfg.Kind {
	case Momentum, Nesterov:
		o.state = make([]T, nParams)
	case Adam:
		o.state = make([]T, 2*nParams)
	default:
		o.state = []T{}
	}
	return o, nil
}

// State returns the optimiser's moments as one flat slice: empty for sgd,
// v for momentum and nesterov, m then v for adam. It is the optimiser's own
// storage, not a copy: it changes with every Step.
func (o *Optimizer[T]) State() []T { return o.state }

// Steps returns the number of steps taken, which Adam's bias correction uses.
func (o *Optimizer[T]) Steps() int64 { return o.steps }

// Restore copies state (laid out as State returns it) into the optimiser and
// sets its step count, as when resuming from a checkpoint.
func (o *Optimizer[T]) Restore(state []T, steps int64) error {
	if len(state) != len(o.state) {
		return fmt.Errorf("restore %s optimizer: state has %d values, want %d for %d parameters",
			o.cfg.Kind, len(state), len(o.state), o.n)
	}
	if steps < 0 {
		return fmt.Errorf("restore %s optimizer: negative step count %d", o.cfg.Kind, steps)
	}
	copy(o.state, state)
	o.steps = steps
	return nil
}

// Step applies one update with learning rate lr. params and grads must both
// have the length given to New; a mismatch is a programming error and panics.
func (o *Optimizer[T]) Step(params, grads []T, lr float64) {
	if len(params) != o.n || len(grads) != o.n {
		panic(fmt.Sprintf("optim: Step with %d params and %d grads, optimizer has %d", len(params), len(grads), o.n))
	}
	o.steps++
	switch o.cfg.Kind {
	case SGD:
		sgd(params, grads, T(lr))
	case Momentum:
		momentum(params, grads, o.state, T(o.cfg.Momentum), T(lr))
	case Nesterov:
		nesterov(params, grads, o.state, T(o.cfg.Momentum), T(lr))
	case Adam:
		b1, b2 := o.cfg.Beta1, o.cfg.Beta2
		t := float64(o.steps)
		// Bias correction folded into two scalars, as in PyTorch:
		// w -= lr/bc1 · m / (√v/√bc2 + ε).
		bc1 := 1 - math.Pow(b1, t)
		bc2 := 1 - math.Pow(b2, t)
		adam(params, grads, o.state[:o.n], o.state[o.n:],
			T(b1), T(1-b1), T(b2), T(1-b2), T(lr/bc1), T(1/math.Sqrt(bc2)), T(o.cfg.Epsilon))
	}
}
