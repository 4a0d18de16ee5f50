package nn

// The bits of 1.0, selected against 0 or the leak by the ReLU kernels;
// constants, so that the loops keep them in a register.
const (
	one32 = 0x3f800000
	one64 = 0x3ff0000000000000
)
