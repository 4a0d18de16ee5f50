// Package safetensors reads and writes the safetensors tensor file format: an
// 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian tensor bytes.
// Any framework with a safetensors reader can load ringtrain's models.
//
// The package knows nothing of neural networks: it stores named tensors and
// a string-to-string metadata map, and checks that what it reads is
// self-consistent (offsets in range, sizes matching shapes). Output is
// deterministic: tensors are written in the order given and the header's
// keys are sorted, so equal inputs give equal bytes.
package safetensors
