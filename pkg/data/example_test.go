package data_test

import (
	"fmt"

	"github.com/ringtrain/ringtrain/pkg/data"
)

// A trainer sets a validation split aside once, then gathers each
// mini-batch into buffers it reuses for every step.
func ExampleDataset_Gather() {
	all, err := data.Synthetic("blobs:4", 1000, 42)
	if err != nil {
		panic(err)
	}
	train, val := all.Split(0.1, 42)
	fmt.Println(train.Len(), val.Len(), train.Features, train.TargetWidth())

	batch := []int{0, 1, 2}
	x := make([]float32, len(batch)*train.Features)
	y := make([]float32, len(batch)*train.TargetWidth())
	train.Gather(batch, x, y)
	fmt.Println(train.Labels[:3], y)
	// Output:
	// 900 100 2 4
	// [0 1 2] [1 0 0 0 0 1 0 0 0 0 1 0]
}
