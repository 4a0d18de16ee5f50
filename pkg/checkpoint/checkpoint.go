package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/precision"
	"github.com/ringtrain/ringtrain/pkg/safetensors"
)

// Format and Version identify ringtrain model files; Version changes when
// the layout changes incompatibly.
const (
	Format  = "ringtrain.model"
	Version = 1
)

// Model is a trained network: architecture, parameters (in nn's flat layout)
// and optional class names, and the scaling of its inputs when it was
// trained on scaled ones (dataset.normalize): what is given to it must be
// scaled the same way.
type Model[T nn.Float] struct {
	Arch   nn.Architecture
	Params []T
	Labels []string
	Scaler *data.Scaler
	// TargetScaler is how its regression targets were standardised: its
	// outputs are in scaled units, which it maps back.
	TargetScaler *data.Scaler
}

// Checkpoint is a model plus the optimiser state that resumes its training.
type Checkpoint[T nn.Float] struct {
	Model[T]
	OptimizerState []T
	Steps          int64
	Epoch          int
	Seed           uint64
}

// Encode returns m as safetensors bytes.
func (m *Model[T]) Encode() ([]byte, error) {
	meta, tensors, err := m.parts()
	if err != nil {
		return nil, err
	}
	return safetensors.Marshal(meta, tensors)
}

func (m *Model[T]) parts() (map[string]string, []safetensors.Tensor, error) {
	if err := m.Arch.Validate(); err != nil {
		return nil, nil, fmt.Errorf("encode model: %w", err)
	}
	if len(m.Params) != m.Arch.NumParams() {
		return nil, nil, fmt.Errorf("encode model: %d parameters, architecture has %d", len(m.Params), m.Arch.NumParams())
	}
	arch, err := json.Marshal(m.Arch)
	if err != nil {
		return nil, nil, fmt.Errorf("encode architecture: %w", err)
	}
	meta := map[string]string{
		"format":       Format,
		"version":      strconv.Itoa(Version),
		"architecture": string(arch),
	}
	if len(m.Labels) > 0 {
		lb, err := json.Marshal(m.Labels)
		if err != nil {
			return nil, nil, fmt.Errorf("encode labels: %w", err)
		}
		meta["labels"] = string(lb)
	}
	for _, sc := range []struct {
		key   string
		s     *data.Scaler
		width int
	}{{"input_scaler", m.Scaler, m.Arch.Inputs}, {"target_scaler", m.TargetScaler, m.Arch.Outputs()}} {
		if sc.s == nil {
			continue
		}
		if len(sc.s.Scale) != sc.width {
			return nil, nil, fmt.Errorf("encode model: %s of %d values for a width of %d", sc.key, len(sc.s.Scale), sc.width)
		}
		b, err := json.Marshal(sc.s)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", sc.key, err)
		}
		meta[sc.key] = string(b)
	}
	var tensors []safetensors.Tensor
	for _, b := range m.Arch.Blocks() {
		tensors = append(tensors, tensor(tensorName(b), b.Shape, m.Params[b.Off:b.Off+b.Len]))
	}
	return meta, tensors, nil
}

// tensorName is the name of block b's tensor in a file: layers.I.weight or
// layers.I.bias, as PyTorch names a Linear layer's.
func tensorName(b nn.Block) string {
	if b.Bias {
		return fmt.Sprintf("layers.%d.bias", b.Layer)
	}
	return fmt.Sprintf("layers.%d.weight", b.Layer)
}

func tensor[T nn.Float](name string, shape []int, v []T) safetensors.Tensor {
	switch v := any(v).(type) {
	case []float32:
		return safetensors.FromFloat32(name, shape, v)
	case []float64:
		return safetensors.FromFloat64(name, shape, v)
	}
	panic("checkpoint: unsupported element type")
}

func values[T nn.Float](t safetensors.Tensor) ([]T, error) {
	var out []T
	switch t.DType {
	case safetensors.F32:
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		out = make([]T, len(v))
		for i, x := range v {
			out[i] = T(x)
		}
	case safetensors.F64:
		v, err := t.Float64s()
		if err != nil {
			return nil, err
		}
		out = make([]T, len(v))
		for i, x := range v {
			out[i] = T(x)
		}
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s, want F32 or F64", t.Name, t.DType)
	}
	return out, nil
}

// scalerFrom returns the scaler of width values a model file's metadata
// keeps under key, or nil.
func scalerFrom(meta map[string]string, key string, width int) (*data.Scaler, error) {
	raw, ok := meta[key]
	if !ok {
		return nil, nil
	}
	sc := &data.Scaler{}
	if err := json.Unmarshal([]byte(raw), sc); err != nil {
		return nil, fmt.Errorf("model %s: %w", key, err)
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", key, err)
	}
	if len(sc.Scale) != width {
		return nil, fmt.Errorf("model %s of %d values for a width of %d", key, len(sc.Scale), width)
	}
	return sc, nil
}

// DecodeModel parses a model file's bytes, converting parameters to T.
func DecodeModel[T nn.Float](b []byte) (*Model[T], error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	return modelFrom[T](f)
}

func modelFrom[T nn.Float](f *safetensors.File) (*Model[T], error) {
	if got := f.Metadata["format"]; got != Format {
		return nil, fmt.Errorf("not a ringtrain model: format %q, want %q", got, Format)
	}
	if v, err := strconv.Atoi(f.Metadata["version"]); err != nil || v != Version {
		return nil, fmt.Errorf("model file version %q, this build reads version %d", f.Metadata["version"], Version)
	}
	m := &Model[T]{}
	if err := json.Unmarshal([]byte(f.Metadata["architecture"]), &m.Arch); err != nil {
		return nil, fmt.Errorf("model architecture: %w", err)
	}
	if err := m.Arch.Validate(); err != nil {
		return nil, fmt.Errorf("model architecture: %w", err)
	}
	if lb, ok := f.Metadata["labels"]; ok {
		if err := json.Unmarshal([]byte(lb), &m.Labels); err != nil {
			return nil, fmt.Errorf("model labels: %w", err)
		}
	}
	var err error
	if m.Scaler, err = scalerFrom(f.Metadata, "input_scaler", m.Arch.Inputs); err != nil {
		return nil, err
	}
	if m.TargetScaler, err = scalerFrom(f.Metadata, "target_scaler", m.Arch.Outputs()); err != nil {
		return nil, err
	}
	m.Params = make([]T, 0, m.Arch.NumParams())
	for _, b := range m.Arch.Blocks() {
		name := tensorName(b)
		t, ok := f.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("model has no tensor %s", name)
		}
		if !slices.Equal(t.Shape, b.Shape) {
			// A transposed weight matrix has the right number of values
			// in the wrong places.
			return nil, fmt.Errorf("tensor %s has shape %v, the architecture needs %v", name, t.Shape, b.Shape)
		}
		v, err := values[T](t)
		if err != nil {
			return nil, err
		}
		if len(v) != b.Len {
			return nil, fmt.Errorf("tensor %s has %d values, architecture needs %d", name, len(v), b.Len)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("tensor %s: value %d is %v: no network computes with it", name, i, x)
			}
		}
		m.Params = append(m.Params, v...)
	}
	return m, nil
}

// Encode returns c as safetensors bytes.
func (c *Checkpoint[T]) Encode() ([]byte, error) {
	meta, tensors, err := c.Model.parts()
	if err != nil {
		return nil, err
	}
	meta["checkpoint.steps"] = strconv.FormatInt(c.Steps, 10)
	meta["checkpoint.epoch"] = strconv.Itoa(c.Epoch)
	meta["checkpoint.seed"] = strconv.FormatUint(c.Seed, 10)
	tensors = append(tensors, tensor("optimizer.state", []int{len(c.OptimizerState)}, c.OptimizerState))
	return safetensors.Marshal(meta, tensors)
}

// DecodeCheckpoint parses a checkpoint's bytes.
func DecodeCheckpoint[T nn.Float](b []byte) (*Checkpoint[T], error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	m, err := modelFrom[T](f)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint[T]{Model: *m}
	if c.Steps, err = strconv.ParseInt(f.Metadata["checkpoint.steps"], 10, 64); err != nil {
		return nil, fmt.Errorf("checkpoint steps: %w", err)
	}
	if c.Epoch, err = strconv.Atoi(f.Metadata["checkpoint.epoch"]); err != nil {
		return nil, fmt.Errorf("checkpoint epoch: %w", err)
	}
	if c.Seed, err = strconv.ParseUint(f.Metadata["checkpoint.seed"], 10, 64); err != nil {
		return nil, fmt.Errorf("checkpoint seed: %w", err)
	}
	t, ok := f.Tensor("optimizer.state")
	if !ok {
		return nil, fmt.Errorf("checkpoint has no optimizer.state tensor")
	}
	if c.OptimizerState, err = values[T](t); err != nil {
		return nil, err
	}
	return c, nil
}

// WriteFile writes b to path atomically: a reader sees the old file or the
// new one, never a part. The new file has the old one's permissions, or
// 0644 less the umask, as os.WriteFile would give it.
func WriteFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if st, err := os.Stat(path); err == nil {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}

// createTemp creates a new file beside path, named after it, with mode
// 0644 less the umask (os.CreateTemp's files are 0600 whatever the umask).
func createTemp(path string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no free temporary name beside %s", path)
}

// FilePrecision returns "float32" or "float64": the type the parameters of
// the model or checkpoint file at path are stored in, which is the
// precision it was trained in and the one to evaluate it in.
func FilePrecision(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("load model: %w", err)
	}
	f, err := safetensors.Parse(b)
	if err != nil {
		return "", fmt.Errorf("load model %s: %w", path, err)
	}
	name := tensorName(nn.Block{Layer: 0})
	t, ok := f.Tensor(name)
	if !ok {
		return "", fmt.Errorf("load model %s: no tensor %s", path, name)
	}
	switch t.DType {
	case safetensors.F32:
		return precision.Float32, nil
	case safetensors.F64:
		return precision.Float64, nil
	}
	return "", fmt.Errorf("load model %s: tensor %s has dtype %s, want F32 or F64", path, name, t.DType)
}

// LoadModel reads the model file at path.
func LoadModel[T nn.Float](path string) (*Model[T], error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := DecodeModel[T](b)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// SaveModel writes m to path atomically.
func SaveModel[T nn.Float](path string, m *Model[T]) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return WriteFile(path, b)
}
