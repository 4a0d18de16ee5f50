package checkpoint

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/safetensors"
)

var arch = nn.Architecture{
	Inputs: 3,
	Layers: []nn.Layer{{Units: 4, Activation: "relu", Dropout: 0.5}, {Units: 2, Activation: "softmax"}},
	Cost:   "categorical_cross_entropy",
	Init:   "he",
}

func params(n int) []float32 {
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(i)*0.25 - 3
	}
	return p
}

func TestModelRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "model.safetensors")
	m := &Model[float32]{Arch: arch, Params: params(arch.NumParams()), Labels: []string{"no", "yes"}}
	if err := SaveModel(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel[float32](path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Params, m.Params) || !slices.Equal(got.Labels, m.Labels) {
		t.Errorf("round trip changed params or labels")
	}
	if got.Arch.Inputs != 3 || len(got.Arch.Layers) != 2 || got.Arch.Layers[0].Dropout != 0.5 || got.Arch.Cost != arch.Cost {
		t.Errorf("architecture: got %+v want %+v", got.Arch, arch)
	}
	wide, err := LoadModel[float64](path)
	if err != nil || float32(wide.Params[7]) != m.Params[7] {
		t.Errorf("loading float32 model as float64: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after save, want only the model (no temp files)", len(entries))
	}
}

func TestFilePrecision(t *testing.T) {
	dir := t.TempDir()
	p32, p64 := filepath.Join(dir, "m32"), filepath.Join(dir, "m64")
	if err := SaveModel(p32, &Model[float32]{Arch: arch, Params: params(arch.NumParams())}); err != nil {
		t.Fatal(err)
	}
	wide := make([]float64, arch.NumParams())
	if err := SaveModel(p64, &Model[float64]{Arch: arch, Params: wide}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{p32: "float32", p64: "float64"} {
		if got, err := FilePrecision(path); got != want || err != nil {
			t.Errorf("%s: got %q, %v want %q", filepath.Base(path), got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk"), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "junk"), filepath.Join(dir, "missing")} {
		if _, err := FilePrecision(bad); err == nil || !strings.Contains(err.Error(), "load model") {
			t.Errorf("%s: got %v, want a load model error", filepath.Base(bad), err)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := &Checkpoint[float64]{Model: Model[float64]{Arch: arch, Params: make([]float64, arch.NumParams())},
		OptimizerState: []float64{1, 2, 3}, Steps: 1 << 40, Epoch: 7, Seed: 1<<64 - 1}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCheckpoint[float64](b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Steps != c.Steps || got.Epoch != 7 || got.Seed != c.Seed || !slices.Equal(got.OptimizerState, c.OptimizerState) {
		t.Errorf("got %+v", got)
	}
}

func TestRejects(t *testing.T) {
	m := &Model[float32]{Arch: arch, Params: params(arch.NumParams())}
	good, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"other format", []byte(strings.Replace(string(good), Format, "ringtrain.weird", 1)), "not a ringtrain model"},
		{"newer version", []byte(strings.Replace(string(good), `"version":"1"`, `"version":"9"`, 1)), "version"},
		{"truncated", good[:len(good)-4], "offsets"},
		{"transposed weights", edit(t, good, "layers.0.weight", func(tn *safetensors.Tensor) { tn.Shape = []int{3, 4} }),
			"tensor layers.0.weight has shape [3 4], the architecture needs [4 3]"},
		{"NaN parameter", edit(t, good, "layers.1.bias", func(tn *safetensors.Tensor) {
			tn.Data = slices.Clone(tn.Data)
			binary.LittleEndian.PutUint32(tn.Data[4:], math.Float32bits(float32(math.NaN())))
		}), "tensor layers.1.bias: value 1 is NaN"},
	}
	for _, tc := range tests {
		if _, err := DecodeModel[float32](tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
	short := &Model[float32]{Arch: arch, Params: params(3)}
	if _, err := short.Encode(); err == nil {
		t.Error("encoding a model with too few params: want error")
	}
}

// edit returns the safetensors file b with tensor name changed by change.
func edit(t *testing.T, b []byte, name string, change func(*safetensors.Tensor)) []byte {
	t.Helper()
	f, err := safetensors.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(f.Tensors, func(tn safetensors.Tensor) bool { return tn.Name == name })
	if i < 0 {
		t.Fatalf("no tensor %s", name)
	}
	change(&f.Tensors[i])
	out, err := safetensors.Marshal(f.Metadata, f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestModelScaler: a model keeps its input scaler; one that does not fit
// the network, or is not whole, is refused on the way in and out.
func TestModelScaler(t *testing.T) {
	sc := &data.Scaler{Kind: data.ScaleStandard, Offset: []float64{1, 2, 3}, Scale: []float64{0.5, 0.25, 2}}
	m := &Model[float32]{Arch: arch, Params: params(arch.NumParams()), Scaler: sc}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeModel[float32](b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scaler == nil || got.Scaler.Kind != sc.Kind || !slices.Equal(got.Scaler.Offset, sc.Offset) || !slices.Equal(got.Scaler.Scale, sc.Scale) {
		t.Errorf("scaler after a round trip: %+v, want %+v", got.Scaler, sc)
	}
	m.Scaler = &data.Scaler{Kind: data.ScaleMinMax, Offset: []float64{0}, Scale: []float64{1}}
	if _, err := m.Encode(); err == nil {
		t.Error("encoded a scaler of 1 feature for a network of 3 inputs")
	}
	// A file whose scaler is broken.
	m.Scaler = sc
	meta, tensors, err := m.parts()
	if err != nil {
		t.Fatal(err)
	}
	meta["input_scaler"] = `{"kind":"standard","offset":[0,0,0],"scale":[1,0,1]}`
	bad, err := safetensors.Marshal(meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeModel[float32](bad); err == nil || !strings.Contains(err.Error(), "input_scaler") {
		t.Errorf("decoded a model with a zero scale: %v", err)
	}
}

// TestWriteFileMode: a new file gets 0644 less the umask, as os.WriteFile
// would give it, and a replaced one keeps its permissions.
func TestWriteFileMode(t *testing.T) {
	dir := t.TempDir()
	umask := syscall.Umask(0o022)
	defer syscall.Umask(umask)
	fresh := filepath.Join(dir, "new.csv")
	if err := WriteFile(fresh, []byte("a")); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "kept.csv")
	if err := os.WriteFile(kept, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(kept, []byte("new")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{fresh: 0o644, kept: 0o640} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
		}
	}
	if b, _ := os.ReadFile(kept); string(b) != "new" {
		t.Errorf("kept.csv holds %q, want new", b)
	}
}
