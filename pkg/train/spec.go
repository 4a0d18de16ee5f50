package train

import "github.com/ringtrain/ringtrain/pkg/data"

// Shape is what a replica needs to know of the data it trains on.
type Shape struct {
	Features int
	Outputs  int
	// Image is (height, width) for image data, zero otherwise.
	Image [2]int
}

// ShapeOf returns the shape of ds.
func ShapeOf(ds *data.Dataset) Shape {
	return Shape{Features: ds.Features, Outputs: ds.TargetWidth(), Image: ds.Shape}
}
