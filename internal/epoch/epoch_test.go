package epoch

import (
	"math"
	"testing"
)

func TestPlanRoundTrip(t *testing.T) {
	p := &Plan{Job: "j1", Epoch: 3, Generation: 7, Members: []Member{{"a", "h1:1"}, {"b", "h2:2"}}, Checksum: "ff"}
	got, err := Unmarshal([]byte(p.Marshal()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Rank("b") != 1 || got.Rank("c") != -1 || got.Generation != 7 || got.Addrs()[1] != "h2:2" || got.IDs()[0] != "a" {
		t.Errorf("round trip: got %+v", got)
	}
	for _, bad := range []string{"", "{", `{"job":"j"}`, `{"members":[{"id":"a"}]}`} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("Unmarshal(%q): want error", bad)
		}
	}
}

func TestChecksum(t *testing.T) {
	p := []float32{1, 2, 3}
	s := []float32{0.5}
	base := Checksum(p, s, 10)
	tests := []struct {
		name         string
		p, s         []float32
		steps        int64
		wantSameBase bool
	}{
		{"same", []float32{1, 2, 3}, []float32{0.5}, 10, true},
		{"param bit", []float32{1, 2, math.Nextafter32(3, 4)}, []float32{0.5}, 10, false},
		{"state", []float32{1, 2, 3}, []float32{0.25}, 10, false},
		{"steps", []float32{1, 2, 3}, []float32{0.5}, 11, false},
		{"boundary moved", []float32{1, 2}, []float32{3, 0.5}, 10, false},
	}
	for _, tc := range tests {
		if got := Checksum(tc.p, tc.s, tc.steps) == base; got != tc.wantSameBase {
			t.Errorf("%s: same checksum = %v, want %v", tc.name, got, tc.wantSameBase)
		}
	}
}

// TestChecksum64: float64 state is hashed at full width, so a difference
// float32 would round away still shows.
func TestChecksum64(t *testing.T) {
	p := []float64{1, 2, 3}
	base := Checksum(p, nil, 10)
	if Checksum([]float64{1, 2, 3}, nil, 10) != base {
		t.Error("same float64 state: checksums differ")
	}
	if Checksum([]float64{1, 2, math.Nextafter(3, 4)}, nil, 10) == base {
		t.Error("float64 state one ulp apart: same checksum")
	}
	if Checksum([]float32{1, 2, 3}, nil, 10) == base {
		t.Error("float32 and float64 state: same checksum")
	}
}
