package optim

import (
	"fmt"
	"math"
	"strings"
)

// Schedule kinds.
const (
	Constant  = "constant"
	StepDecay = "step"
	Cosine    = "cosine"
)

// DefaultGamma is the step schedule's decay factor where a job spec gives
// none.
const DefaultGamma = 0.1

// Schedule gives the learning rate of each optimiser step. Every kind can
// ramp up linearly over its first WarmupSteps steps, which keeps Adam and
// large-batch momentum from diverging before the moments settle.
type Schedule struct {
	Kind        string  // "constant" (also ""), "step" or "cosine"
	Base        float64 // rate after warm-up; cosine's starting rate
	WarmupSteps int     // steps of linear ramp from Base/WarmupSteps up to Base
	StepEvery   int     // step: multiply by Gamma every StepEvery epochs
	Gamma       float64 // step: decay factor in (0, 1]
	TotalSteps  int     // cosine: the step at which the rate reaches Min, counting warm-up
	Min         float64 // cosine: final rate, in [0, Base]
}

// Validate reports the first invalid field, named as in the job spec
// ("schedule.gamma: ..."). Fields the kind does not use are not checked.
// Cosine needs TotalSteps: a trainer that derives it from the epoch count
// sets it before validating.
func (s Schedule) Validate() error {
	if !(s.Base > 0) || math.IsInf(s.Base, 0) {
		return fmt.Errorf("schedule.base: must be positive and finite, got %v", s.Base)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("schedule.warmup_steps: must not be negative, got %d", s.WarmupSteps)
	}
	switch s.Kind {
	case "", Constant:
	case StepDecay:
		if s.StepEvery < 1 {
			return fmt.Errorf("schedule.step_every: must be at least 1 epoch, got %d", s.StepEvery)
		}
		if !(s.Gamma > 0 && s.Gamma <= 1) {
			return fmt.Errorf("schedule.gamma: must be in (0, 1], got %v", s.Gamma)
		}
	case Cosine:
		if s.TotalSteps <= s.WarmupSteps {
			return fmt.Errorf("schedule.total_steps: must exceed warmup_steps (%d), got %d", s.WarmupSteps, s.TotalSteps)
		}
		if !(s.Min >= 0 && s.Min <= s.Base) {
			return fmt.Errorf("schedule.min: must be in [0, base=%v], got %v", s.Base, s.Min)
		}
	default:
		return fmt.Errorf("schedule.kind: unknown %q (want %s)", s.Kind, strings.Join(ScheduleKinds, ", "))
	}
	return nil
}

// At returns the learning rate for the optimiser step that follows step
// completed steps (0 for the first), taken during epoch (0-based). The
// schedule must be valid.
func (s Schedule) At(step int64, epoch int) float64 {
	lr := s.Base
	switch s.Kind {
	case StepDecay:
		lr *= math.Pow(s.Gamma, float64(epoch/s.StepEvery))
	case Cosine:
		span := float64(s.TotalSteps - s.WarmupSteps)
		p := min(max(float64(step-int64(s.WarmupSteps))/span, 0), 1)
		lr = s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*p))/2
	}
	if step < int64(s.WarmupSteps) {
		lr *= float64(step+1) / float64(s.WarmupSteps)
	}
	return lr
}
