package optim

import (
	"math"
	"strings"
	"testing"
)

// The expected values below were worked out by hand; most use powers of two
// so that they are exact in both float32 and float64.
func TestStepByHand(t *testing.T) {
	third := 1.0 / 3
	tests := []struct {
		name      string
		cfg       Config
		lr        float64
		w0        []float64
		grads     [][]float64 // one gradient per step
		want      [][]float64 // parameters after each step
		wantState []float64
	}{
		{
			name:  "sgd",
			cfg:   Config{Kind: SGD},
			lr:    0.5,
			w0:    []float64{1, -2},
			grads: [][]float64{{0.5, 0.25}, {0.5, -1}},
			want:  [][]float64{{0.75, -2.125}, {0.5, -1.625}},
		},
		{
			name: "zero config is sgd",
			lr:   2, w0: []float64{1}, grads: [][]float64{{0.25}}, want: [][]float64{{0.5}},
		},
		{
			// v = μv + g; w -= ηv
			name:      "momentum",
			cfg:       Config{Kind: Momentum, Momentum: 0.5},
			lr:        0.5,
			w0:        []float64{1},
			grads:     [][]float64{{1}, {1}, {1}},
			want:      [][]float64{{0.5}, {-0.25}, {-1.125}},
			wantState: []float64{1.75},
		},
		{
			name:      "momentum gradient changes sign",
			cfg:       Config{Kind: Momentum, Momentum: 0.5},
			lr:        1,
			w0:        []float64{0},
			grads:     [][]float64{{2}, {-2}},
			want:      [][]float64{{-2}, {-1}}, // v: 2, then -1
			wantState: []float64{-1},
		},
		{
			// v = μv + g; w -= η(g + μv)
			name:      "nesterov",
			cfg:       Config{Kind: Nesterov, Momentum: 0.5},
			lr:        0.5,
			w0:        []float64{1},
			grads:     [][]float64{{1}, {1}, {1}},
			want:      [][]float64{{0.25}, {-0.625}, {-1.5625}},
			wantState: []float64{1.75},
		},
		{
			// Constant gradient: m̂ = g and v̂ = g² at every step, so each
			// step moves w by η·g/(|g|+ε).
			name:      "adam constant gradient",
			cfg:       Config{Kind: Adam},
			lr:        0.1,
			w0:        []float64{1},
			grads:     [][]float64{{2}, {2}},
			want:      [][]float64{{1 - 0.2/(2+1e-8)}, {1 - 0.4/(2+1e-8)}},
			wantState: []float64{0.2*0.9 + 0.2, 0.004*0.999 + 0.004}, // m, v
		},
		{
			// β1 = β2 = ½, g = 1 then −1:
			// step 1: m = ½, v = ½, m̂ = 1, v̂ = 1, w = −1/(1+ε)
			// step 2: m = −¼, v = ¾, m̂ = −⅓, v̂ = 1, w = −⅔/(1+ε)
			name:      "adam sign change",
			cfg:       Config{Kind: Adam, Beta1: 0.5, Beta2: 0.5},
			lr:        1,
			w0:        []float64{0},
			grads:     [][]float64{{1}, {-1}},
			want:      [][]float64{{-1 / (1 + 1e-8)}, {-2 * third / (1 + 1e-8)}},
			wantState: []float64{-0.25, 0.75},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/float64", func(t *testing.T) { checkByHand(t, tc.cfg, tc.lr, tc.w0, tc.grads, tc.want, tc.wantState, 1e-15) })
		t.Run(tc.name+"/float32", func(t *testing.T) {
			checkByHand(t, tc.cfg, tc.lr, conv[float32](tc.w0), tc.grads, tc.want, tc.wantState, 1e-6)
		})
		t.Run(tc.name+"/named", func(t *testing.T) {
			checkByHand(t, tc.cfg, tc.lr, conv[named32](tc.w0), tc.grads, tc.want, tc.wantState, 1e-6)
		})
	}
}

type named32 float32

func conv[T Float](x []float64) []T {
	y := make([]T, len(x))
	for i, v := range x {
		y[i] = T(v)
	}
	return y
}

func checkByHand[T Float](t *testing.T, cfg Config, lr float64, w0 []T, grads, want [][]float64, wantState []float64, tol float64) {
	t.Helper()
	o, err := New[T](cfg, len(w0))
	if err != nil {
		t.Fatal(err)
	}
	w := append([]T(nil), w0...)
	for s, g := range grads {
		o.Step(w, conv[T](g), lr)
		for i := range w {
			if !close(float64(w[i]), want[s][i], tol) {
				t.Errorf("step %d param %d: got %.17g want %.17g", s+1, i, float64(w[i]), want[s][i])
			}
		}
	}
	if got := o.Steps(); got != int64(len(grads)) {
		t.Errorf("Steps: got %d want %d", got, len(grads))
	}
	st := o.State()
	if len(st) != len(wantState) {
		t.Fatalf("State: got %d values want %d", len(st), len(wantState))
	}
	for i := range st {
		if !close(float64(st[i]), wantState[i], tol) {
			t.Errorf("state %d: got %.17g want %.17g", i, float64(st[i]), wantState[i])
		}
	}
}

func close(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// The kernels process blocks of 8 plus a tail; a length that is not a
// multiple of 8 must update every element the same way.
func TestStepCoversTail(t *testing.T) {
	for _, kind := range []string{SGD, Momentum, Nesterov, Adam} {
		const n = 8*3 + 5
		o, err := New[float32](Config{Kind: kind}, n)
		if err != nil {
			t.Fatal(err)
		}
		w, g := make([]float32, n), make([]float32, n)
		for i := range g {
			g[i] = 1
		}
		o.Step(w, g, 0.1)
		o.Step(w, g, 0.1)
		for i := range w {
			if w[i] != w[0] || w[0] == 0 {
				t.Fatalf("%s: param %d = %v, param 0 = %v; want all equal and nonzero", kind, i, w[i], w[0])
			}
		}
	}
}

func TestStepAllocatesNothing(t *testing.T) {
	for _, kind := range []string{SGD, Momentum, Nesterov, Adam} {
		const n = 1000
		o32, _ := New[float32](Config{Kind: kind}, n)
		w32, g32 := make([]float32, n), make([]float32, n)
		if a := testing.AllocsPerRun(50, func() { o32.Step(w32, g32, 0.01) }); a != 0 {
			t.Errorf("%s float32: %v allocs per Step, want 0", kind, a)
		}
		o64, _ := New[float64](Config{Kind: kind}, n)
		w64, g64 := make([]float64, n), make([]float64, n)
		if a := testing.AllocsPerRun(50, func() { o64.Step(w64, g64, 0.01) }); a != 0 {
			t.Errorf("%s float64: %v allocs per Step, want 0", kind, a)
		}
	}
}

func TestStepPanicsOnLengthMismatch(t *testing.T) {
	o, _ := New[float32](Config{Kind: Momentum}, 4)
	defer func() {
		if recover() == nil {
			t.Error("Step with 3 params on a 4-param optimizer did not panic")
		}
	}()
	o.Step(make([]float32, 3), make([]float32, 3), 0.1)
}

// A run restored from State and Steps continues exactly as the original.
func TestRestoreResumesBitForBit(t *testing.T) {
	for _, kind := range []string{Momentum, Nesterov, Adam} {
		const n = 13
		grad := func(s int) []float32 {
			g := make([]float32, n)
			for i := range g {
				g[i] = float32(math.Sin(float64(s*n + i)))
			}
			return g
		}
		a, _ := New[float32](Config{Kind: kind}, n)
		wa := make([]float32, n)
		for s := range 3 {
			a.Step(wa, grad(s), 0.01)
		}
		b, _ := New[float32](Config{Kind: kind}, n)
		if err := b.Restore(append([]float32(nil), a.State()...), a.Steps()); err != nil {
			t.Fatal(err)
		}
		wb := append([]float32(nil), wa...)
		for s := 3; s < 6; s++ {
			a.Step(wa, grad(s), 0.01)
			b.Step(wb, grad(s), 0.01)
		}
		for i := range wa {
			if wa[i] != wb[i] {
				t.Fatalf("%s: param %d differs after restore: %v vs %v", kind, i, wa[i], wb[i])
			}
		}
	}
}

func TestRestoreErrors(t *testing.T) {
	tests := []struct {
		kind    string
		state   int
		steps   int64
		wantErr string
	}{
		{SGD, 1, 0, "state has 1 values, want 0"},
		{Momentum, 9, 0, "state has 9 values, want 10"},
		{Adam, 10, 5, "state has 10 values, want 20"},
		{Adam, 20, -1, "negative step count -1"},
		{Momentum, 10, 3, ""},
		{SGD, 0, 7, ""},
	}
	for i, tc := range tests {
		o, _ := New[float64](Config{Kind: tc.kind}, 10)
		err := o.Restore(make([]float64, tc.state), tc.steps)
		if !errMatches(err, tc.wantErr) {
			t.Errorf("test %d (%s): got %v want error containing %q", i, tc.kind, err, tc.wantErr)
		}
		if err == nil && o.Steps() != tc.steps {
			t.Errorf("test %d: Steps after Restore = %d want %d", i, o.Steps(), tc.steps)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Kind: Momentum}, ""},
		{Config{Kind: Adam, Beta1: 0.8, Beta2: 0.99, Epsilon: 1e-6}, ""},
		{Config{Kind: "rmsprop"}, `optimizer.kind: unknown "rmsprop"`},
		{Config{Kind: Momentum, Momentum: 1}, "optimizer.momentum: must be in [0, 1), got 1"},
		{Config{Kind: Nesterov, Momentum: -0.1}, "optimizer.momentum"},
		{Config{Kind: Adam, Beta1: 1.5}, "optimizer.beta1"},
		{Config{Kind: Adam, Beta2: math.NaN()}, "optimizer.beta2"},
		{Config{Kind: Adam, Epsilon: -1}, "optimizer.epsilon"},
		{Config{Kind: SGD, Momentum: 7}, ""}, // unused by sgd
	}
	for i, tc := range tests {
		err := tc.cfg.Validate()
		if !errMatches(err, tc.wantErr) {
			t.Errorf("test %d: got %v want error containing %q", i, err, tc.wantErr)
		}
		if _, err := New[float32](tc.cfg, 1); !errMatches(err, tc.wantErr) {
			t.Errorf("test %d: New: got %v want error containing %q", i, err, tc.wantErr)
		}
	}
	if _, err := New[float32](Config{}, -1); err == nil {
		t.Error("New with -1 parameters: got nil error")
	}
}

func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// BenchmarkStep updates the 235,146 parameters of a 784-256-128-10 network.
func BenchmarkStep(b *testing.B) {
	const n = 784*256 + 256 + 256*128 + 128 + 128*10 + 10
	for _, kind := range []string{SGD, Momentum, Nesterov, Adam} {
		b.Run(kind, func(b *testing.B) {
			o, _ := New[float32](Config{Kind: kind}, n)
			w, g := make([]float32, n), make([]float32, n)
			for i := range g {
				g[i] = 1e-3
			}
			for b.Loop() {
				o.Step(w, g, 1e-3)
			}
			b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds()/1e6, "Mparams/s")
		})
	}
}
