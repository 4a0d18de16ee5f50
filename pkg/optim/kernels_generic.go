//go:build !amd64 || purego

package optim

func momentum[T Float](w, g, v []T, mu, lr T) { momentumGo(w, g, v, mu, lr) }

func nesterov[T Float](w, g, v []T, mu, lr T) { nesterovGo(w, g, v, mu, lr) }
