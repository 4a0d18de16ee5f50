package train

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ringtrain/ringtrain/pkg/data"
)

// fashionSets loads Fashion-MNIST, failing under CI (where .ci/run installs
// it) and skipping elsewhere when the Debian package is absent.
func fashionSets(t testing.TB, doc string) (*Datasets, func() *Result) {
	t.Helper()
	if _, _, err := data.FashionMNIST(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Fashion-MNIST missing under CI: %v", err)
		}
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	spec := mustSpec(t.(*testing.T), doc)
	sets, err := LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	return sets, func() *Result {
		res, err := Run[float32](context.Background(), spec, sets, nop{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}

// A broken engine cannot land: two epochs must reach 84% test accuracy.
func TestFashionMNISTShort(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 60,000 images")
	}
	_, run := fashionSets(t, `
dataset: {name: fashion-mnist}
model: {layers: [{units: 256, activation: relu}, {units: 10, activation: softmax}], init: he}
training: {optimizer: {kind: momentum, learning_rate: 0.02}, batch_size: 32, epochs: 2, seed: 1}`)
	start := time.Now()
	res := run()
	acc := res.SavedTest.Accuracy
	t.Logf("2 epochs: test accuracy %.2f%% in %s", 100*acc, time.Since(start).Round(time.Millisecond))
	if acc < 0.84 {
		t.Errorf("test accuracy %.2f%% after 2 epochs, want >= 84%%", 100*acc)
	}
}
