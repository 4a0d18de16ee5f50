// Package precision names the floating-point types ringtrain computes in:
// the one constraint every generic package uses (Float), and the names a
// job spec and a model file give them.
package precision

// Float is the type of parameters, gradients and activations: float32 or
// float64.
type Float interface{ ~float32 | ~float64 }

// The names of the precisions, as training.precision and model files have
// them.
const (
	Float32 = "float32"
	Float64 = "float64"
)

// Names lists the precisions, the default first.
var Names = []string{Float32, Float64}
