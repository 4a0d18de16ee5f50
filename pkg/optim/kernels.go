package optim

import (
	"math"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// The kernels work in blocks of 8 so that the compiler drops bounds checks
// and overlaps independent iterations; that alone makes them about 1.5×
// faster than a plain range loop. Their conversions round every operation,
// which forbids fused multiply-adds (Go fuses on arm64, and on amd64 from
// GOAMD64=v3): every replica's update has the same bits on any platform,
// and so do the SSE2 kernels of kernels_amd64.s.
const block = 8

// sgd is plain gradient descent: w ← w − η∇C. For the plain float types it is a BLAS axpy,
// which gonum vectorises (3× a scalar Go loop).
func sgd[T Float](w, g []T, lr T) {
	switch w := any(w).(type) {
	case []float32:
		blas32.Implementation().Saxpy(len(w), -float32(lr), any(g).([]float32), 1, w, 1)
		return
	case []float64:
		blas64.Implementation().Daxpy(len(w), -float64(lr), any(g).([]float64), 1, w, 1)
		return
	}
	g = g[:len(w)]
	for i := range w {
		w[i] -= lr * g[i]
	}
}

// momentumGo is heavy-ball SGD in PyTorch's form: v ← μv + g, w ← w − ηv.
// Keeping η out of v makes a learning-rate schedule act at once. It is
// momentum, but for float32 on amd64, where kernels_amd64.s has SSE2
// kernels with the same bits.
func momentumGo[T Float](w, g, v []T, mu, lr T) {
	n := len(w)
	g, v = g[:n], v[:n]
	i := 0
	for ; i+block <= n; i += block {
		wb, gb, vb := w[i:i+block:i+block], g[i:i+block:i+block], v[i:i+block:i+block]
		for j := range block {
			vj := T(T(mu*vb[j]) + gb[j])
			vb[j] = vj
			wb[j] = T(wb[j] - T(lr*vj))
		}
	}
	for ; i < n; i++ {
		vi := T(T(mu*v[i]) + g[i])
		v[i] = vi
		w[i] = T(w[i] - T(lr*vi))
	}
}

// nesterovGo is PyTorch's Nesterov momentum: v ← μv + g,
// w ← w − η(g + μv). It is nesterov, but for float32 on amd64.
func nesterovGo[T Float](w, g, v []T, mu, lr T) {
	n := len(w)
	g, v = g[:n], v[:n]
	i := 0
	for ; i+block <= n; i += block {
		wb, gb, vb := w[i:i+block:i+block], g[i:i+block:i+block], v[i:i+block:i+block]
		for j := range block {
			vj := T(T(mu*vb[j]) + gb[j])
			vb[j] = vj
			wb[j] = T(wb[j] - T(lr*T(gb[j]+T(mu*vj))))
		}
	}
	for ; i < n; i++ {
		vi := T(T(mu*v[i]) + g[i])
		v[i] = vi
		w[i] = T(w[i] - T(lr*T(g[i]+T(mu*vi))))
	}
}

// adamGo is Kingma & Ba's update with bias correction folded into step
// (η/(1−β1ᵗ)) and rs (1/√(1−β2ᵗ)):
// m ← β1m + c1·g, v ← β2v + c2·g², w ← w − step·m/(√v·rs + ε),
// where c1 = 1−β1 and c2 = 1−β2 come from the caller in float64: in float32,
// 1−0.999 would lose four digits. It is adam, but for float32 on amd64.
func adamGo[T Float](w, g, m, v []T, b1, c1, b2, c2, step, rs, eps T) {
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	for i := range w {
		gi := g[i]
		mi := T(T(b1*m[i]) + T(c1*gi))
		vi := T(T(b2*v[i]) + T(T(c2*gi)*gi))
		m[i], v[i] = mi, vi
		w[i] = T(w[i] - T(T(step*mi)/T(T(T(math.Sqrt(float64(vi)))*rs)+eps)))
	}
}
