package rng

import "testing"

func TestStreamsAreReproducibleAndDistinct(t *testing.T) {
	tests := []struct {
		name   string
		a, b   []uint64
		p, q   Purpose
		wantEq bool
	}{
		{"same key", []uint64{3, 17}, []uint64{3, 17}, Dropout, Dropout, true},
		{"other epoch", []uint64{3, 17}, []uint64{4, 17}, Dropout, Dropout, false},
		{"other sample", []uint64{3, 17}, []uint64{3, 18}, Dropout, Dropout, false},
		{"other purpose", []uint64{3, 17}, []uint64{3, 17}, Dropout, Augment, false},
		{"coords are not commutative", []uint64{3, 17}, []uint64{17, 3}, Dropout, Dropout, false},
	}
	for _, tc := range tests {
		x := NewSource(42, tc.p, tc.a...)
		y := NewSource(42, tc.q, tc.b...)
		eq := true
		for range 8 {
			if x.Uint64() != y.Uint64() {
				eq = false
			}
		}
		if eq != tc.wantEq {
			t.Errorf("%s: streams equal = %v, want %v", tc.name, eq, tc.wantEq)
		}
	}
}

func TestReseedRestartsStream(t *testing.T) {
	s := NewSource(1, Shuffle, 9)
	first := s.Uint64()
	s.Uint64()
	s.Reseed(1, Shuffle, 9)
	if got := s.Uint64(); got != first {
		t.Errorf("after reseed got %x want %x", got, first)
	}
	if n := testing.AllocsPerRun(100, func() { s.Reseed(1, Dropout, 2, 3, 4) }); n != 0 {
		t.Errorf("Reseed allocates %v times, want 0", n)
	}
}
