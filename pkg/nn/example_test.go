package nn_test

import (
	"fmt"

	"github.com/ringtrain/ringtrain/pkg/nn"
)

// A training step is Gradients, which leaves the mean gradient in a slice
// laid out like Params, then an update; a distributed worker would average
// the gradient slice with its peers in between.
func ExampleNetwork_Gradients() {
	arch := nn.Architecture{
		Inputs: 2,
		Layers: []nn.Layer{{Units: 8, Activation: nn.Tanh}, {Units: 1, Activation: nn.Sigmoid}},
		Cost:   nn.CrossEntropy,
		Init:   nn.Xavier,
	}
	net, err := nn.New[float32](arch)
	if err != nil {
		panic(err)
	}
	net.Initialize(1)
	xor := nn.Batch[float32]{X: []float32{0, 0, 0, 1, 1, 0, 1, 1}, Y: []float32{0, 1, 1, 0}}
	ws := nn.NewWorkspace[float32](arch, 4)
	grads := make([]float32, net.NumParams())
	for range 2000 {
		net.Gradients(ws, xor, grads, nn.Regularization{}, nil)
		for i, g := range grads {
			net.Params()[i] -= 0.5 * g
		}
	}
	m := net.Evaluate(ws, xor.X, xor.Y, 4)
	fmt.Println("accuracy", m.Accuracy, "confusion", m.Confusion)
	// Output: accuracy 1 confusion [[2 0] [0 2]]
}
