package localcluster

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

func withPrefix() clientv3.OpOption { return clientv3.WithPrefix() }

func netOf(t *testing.T, m *checkpoint.Model[float32]) *nn.Network[float32] {
	t.Helper()
	net, err := nn.New[float32](m.Arch)
	if err != nil {
		t.Fatal(err)
	}
	copy(net.Params(), m.Params)
	return net
}
