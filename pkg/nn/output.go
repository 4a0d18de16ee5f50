package nn

import "math"

// output overwrites z (rows×len(b)) with the output activation of z + b.
// When y is not nil it also writes the output error δ = ∂C/∂z of each row,
// times inv, into delta and returns the cost summed over the rows. The cost
// is computed from z + b, not from the activations, so that saturated outputs
// (z = ±1000) give finite costs and errors.
func output[T Float](act Activation, cost Cost, z, b, y, delta []T, inv T) float64 {
	units := len(b)
	var sum float64
	for r := 0; r < len(z); r += units {
		zr := z[r : r+units]
		for j, bj := range b {
			zr[j] += bj
		}
		if act == Softmax {
			if y == nil {
				softmax(zr, zr)
				continue
			}
			yr := y[r : r+units]
			var yz float64
			for j, v := range zr {
				yz += float64(yr[j]) * float64(v)
			}
			lse := softmax(zr, zr)
			sum += softmaxError(cost, zr, yr, delta[r:r+units], inv, lse, yz)
			continue
		}
		for j, v := range zr {
			a, d := scalar(act, float64(v))
			zr[j] = T(a)
			if y == nil {
				continue
			}
			t := float64(y[r+j])
			if cost == CrossEntropy {
				// −[t ln σ(v) + (1−t) ln(1−σ(v))], rewritten in v.
				sum += max(float64(v), 0) - float64(v)*t + math.Log1p(math.Exp(-math.Abs(float64(v))))
				delta[r+j] = T(a-t) * inv
			} else {
				sum += (a - t) * (a - t) / 2
				delta[r+j] = T((a-t)*d) * inv
			}
		}
	}
	return sum
}

// softmaxError writes δ for one softmax row a with targets y and returns the
// row's cost; lse is ln Σ e^v and yz is Σ y_j v_j.
func softmaxError[T Float](cost Cost, a, y, delta []T, inv T, lse, yz float64) float64 {
	if cost == CategoricalCrossEntropy {
		// −Σ y_j ln a_j = Σ y_j (lse − v_j); δ = a − y.
		var ysum float64
		for j := range a {
			ysum += float64(y[j])
			delta[j] = (a[j] - y[j]) * inv
		}
		return ysum*lse - yz
	}
	// MSE: δ = J·g with g = a − y and the softmax Jacobian J = diag(a) − a·aᵀ.
	var c, ga float64
	for j := range a {
		g := float64(a[j] - y[j])
		c += g * g / 2
		ga += g * float64(a[j])
	}
	for j := range a {
		delta[j] = T(float64(a[j])*(float64(a[j]-y[j])-ga)) * inv
	}
	return c
}
