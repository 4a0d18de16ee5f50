package train

import (
	"testing"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

func loadNet[T nn.Float](t *testing.T, m *checkpoint.Model[T]) *nn.Network[T] {
	t.Helper()
	net, err := nn.New[T](m.Arch)
	if err != nil {
		t.Fatal(err)
	}
	copy(net.Params(), m.Params)
	return net
}
