//go:build !amd64 || purego

package optim

func momentum[T Float](w, g, v []T, mu, lr T) { momentumGo(w, g, v, mu, lr) }

func nesterov[T Float](w, g, v []T, mu, lr T) { nesterovGo(w, g, v, mu, lr) }

func adam[T Float](w, g, m, v []T, b1, c1, b2, c2, step, rs, eps T) {
	adamGo(w, g, m, v, b1, c1, b2, c2, step, rs, eps)
}
