package optim

import (
	"math"
	"testing"
)

func TestScheduleAt(t *testing.T) {
	type point struct {
		step  int64
		epoch int
		want  float64
	}
	tests := []struct {
		name   string
		s      Schedule
		points []point
	}{
		{"constant", Schedule{Kind: Constant, Base: 0.1},
			[]point{{0, 0, 0.1}, {1e6, 40, 0.1}}},
		{"empty kind is constant", Schedule{Base: 0.3},
			[]point{{0, 0, 0.3}, {9, 9, 0.3}}},
		{"constant warm-up", Schedule{Kind: Constant, Base: 0.1, WarmupSteps: 4},
			[]point{{0, 0, 0.025}, {1, 0, 0.05}, {3, 0, 0.1}, {4, 0, 0.1}, {5, 1, 0.1}}},
		{"step", Schedule{Kind: StepDecay, Base: 1, StepEvery: 2, Gamma: 0.5},
			[]point{{0, 0, 1}, {100, 1, 1}, {200, 2, 0.5}, {300, 3, 0.5}, {400, 4, 0.25}, {1000, 10, 1.0 / 32}}},
		{"step gamma 1", Schedule{Kind: StepDecay, Base: 1, StepEvery: 1, Gamma: 1},
			[]point{{0, 0, 1}, {100, 7, 1}}},
		{"step warm-up scales the decayed rate", Schedule{Kind: StepDecay, Base: 1, StepEvery: 1, Gamma: 0.5, WarmupSteps: 4},
			[]point{{0, 0, 0.25}, {2, 1, 0.375}, {4, 1, 0.5}}},
		{"cosine", Schedule{Kind: Cosine, Base: 1, TotalSteps: 10},
			[]point{{0, 0, 1}, {5, 0, 0.5}, {10, 0, 0}, {11, 3, 0}, {1000, 9, 0}}},
		{"cosine min", Schedule{Kind: Cosine, Base: 1, Min: 0.1, TotalSteps: 10},
			[]point{{0, 0, 1}, {5, 0, 0.55}, {10, 0, 0.1}, {50, 0, 0.1}}},
		{"cosine quarter", Schedule{Kind: Cosine, Base: 2, TotalSteps: 4},
			[]point{{1, 0, 1 + math.Sqrt2/2}, {3, 0, 1 - math.Sqrt2/2}}},
		// Cosine runs over the steps after warm-up: p = (step−2)/10.
		{"cosine warm-up", Schedule{Kind: Cosine, Base: 1, WarmupSteps: 2, TotalSteps: 12},
			[]point{{0, 0, 0.5}, {1, 0, 1}, {2, 0, 1}, {7, 0, 0.5}, {12, 0, 0}, {13, 0, 0}}},
	}
	for _, tc := range tests {
		if err := tc.s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.name, err)
			continue
		}
		for _, p := range tc.points {
			if got := tc.s.At(p.step, p.epoch); !close(got, p.want, 1e-15) {
				t.Errorf("%s: At(%d, %d) = %.17g want %.17g", tc.name, p.step, p.epoch, got, p.want)
			}
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		s       Schedule
		wantErr string
	}{
		{Schedule{Kind: "linear", Base: 1}, `schedule.kind: unknown "linear"`},
		{Schedule{Kind: Constant}, "schedule.base: must be positive and finite, got 0"},
		{Schedule{Base: -0.1}, "schedule.base"},
		{Schedule{Base: math.Inf(1)}, "schedule.base"},
		{Schedule{Base: math.NaN()}, "schedule.base"},
		{Schedule{Base: 1, WarmupSteps: -1}, "schedule.warmup_steps"},
		{Schedule{Kind: StepDecay, Base: 1, Gamma: 0.5}, "schedule.step_every: must be at least 1 epoch, got 0"},
		{Schedule{Kind: StepDecay, Base: 1, StepEvery: 3}, "schedule.gamma: must be in (0, 1], got 0"},
		{Schedule{Kind: StepDecay, Base: 1, StepEvery: 3, Gamma: 1.1}, "schedule.gamma"},
		{Schedule{Kind: Cosine, Base: 1}, "schedule.total_steps: must exceed warmup_steps (0), got 0"},
		{Schedule{Kind: Cosine, Base: 1, WarmupSteps: 10, TotalSteps: 10}, "schedule.total_steps"},
		{Schedule{Kind: Cosine, Base: 1, TotalSteps: 10, Min: 2}, "schedule.min: must be in [0, base=1], got 2"},
		{Schedule{Kind: Cosine, Base: 1, TotalSteps: 10, Min: -1}, "schedule.min"},
		{Schedule{Kind: Constant, Base: 1, Gamma: -3, Min: 9}, ""}, // unused fields
	}
	for i, tc := range tests {
		if err := tc.s.Validate(); !errMatches(err, tc.wantErr) {
			t.Errorf("test %d: got %v want error containing %q", i, err, tc.wantErr)
		}
	}
}
