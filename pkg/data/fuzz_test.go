package data

import (
	"bytes"
	"testing"
)

// FuzzIDX feeds arbitrary image and label streams, raw or gzipped, to the
// IDX decoders. They must return an error or a consistent dataset, never
// panic or allocate what the data does not back.
func FuzzIDX(f *testing.F) {
	img := idxImages(3, 2, 2, pixIJ)
	lbl := idxLabels(1, 0, 2)
	f.Add(img, lbl)
	f.Add(gzipped(img), gzipped(lbl))
	f.Add(img[:20], lbl[:9])
	f.Add(idxHeader(idxImagesMagic, 1<<32-1, 1<<16, 1<<16), idxHeader(idxLabelsMagic, 1<<32-1))
	f.Add(gzipped(idxHeader(idxImagesMagic, 1<<32-1, 28, 28)), lbl)
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		x, shape, err := decodeImages(bytes.NewReader(images), int64(len(images)))
		if err != nil {
			return
		}
		d := &Dataset{Pixels: x, Shape: shape, Features: shape[0] * shape[1]}
		if d.Features == 0 || len(x)%d.Features != 0 {
			t.Fatalf("%d pixels for images of %v", len(x), shape)
		}
		l, err := decodeLabels(bytes.NewReader(labels), int64(len(labels)), 10)
		if err != nil {
			return
		}
		if err := attachLabels(d, l); err != nil {
			return
		}
		for _, c := range d.Labels {
			if c < 0 || c >= 10 || c >= d.Classes {
				t.Fatalf("label %d with Classes %d", c, d.Classes)
			}
		}
	})
}

// FuzzCSV feeds arbitrary text and options to the CSV decoder.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("label,a,b\n1,0.5,2\n0,-1,3e2\n"), false, int8(0), false, uint8(0), false)
	f.Add([]byte("1,2,10,20\n3,4,30,40\n"), false, int8(-1), true, uint8(2), false)
	f.Add([]byte("a,b\n1,2\n3\n"), true, int8(0), false, uint8(0), true)
	f.Add([]byte("\"x\",\"y\"\n\"0.25\",\"1\"\r\n1,NaN\n"), false, int8(-1), false, uint8(0), false)
	f.Fuzz(func(t *testing.T, text []byte, header bool, labelColumn int8, regression bool, targets uint8, noTargets bool) {
		opt := CSVOptions{Header: header, LabelColumn: int(labelColumn), Regression: regression,
			TargetColumns: int(targets), NoTargets: noTargets}
		d, err := decodeCSV(bytes.NewReader(text), opt)
		if err != nil {
			return
		}
		n := d.Len()
		if n == 0 || len(d.X) != n*d.Features {
			t.Fatalf("%d values for %d rows of %d features", len(d.X), n, d.Features)
		}
		if d.Labels != nil && len(d.Labels) != n || d.Targets != nil && len(d.Targets) != n*d.TargetWidth() {
			t.Fatalf("%d labels, %d targets for %d rows", len(d.Labels), len(d.Targets), n)
		}
		for _, c := range d.Labels {
			if c < 0 || c >= d.Classes {
				t.Fatalf("label %d with Classes %d", c, d.Classes)
			}
		}
	})
}
