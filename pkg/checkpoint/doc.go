// Package checkpoint stores trained models and training checkpoints as
// safetensors files.
//
// A model file carries everything needed to predict: the architecture (as
// JSON in the safetensors metadata, under a format name and version) and one
// weight and one bias tensor per layer. A checkpoint adds what is needed to
// resume training exactly: the optimiser's flat state, its step count, the
// epoch and the seed. Files are written to a temporary name, synced and
// renamed, so a crash never leaves a half-written model where a good one was.
//
// The package does not train or evaluate; it only turns parameters into bytes
// and back, checking shapes against the architecture.
package checkpoint
