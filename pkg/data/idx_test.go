package data

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadIDX(t *testing.T) {
	images := idxImages(3, 2, 2, func(i, j int) byte { return []byte{0, 51, 255, 102}[j] + byte(i) })
	labels := idxLabels(4, 0, 2)
	for _, tc := range []struct{ name, imgFile, lblFile string }{
		{"raw", "img", "lbl"},
		{"gzip detected by magic, not name", "img.idx", "lbl.idx"},
	} {
		dir := t.TempDir()
		img, lbl := images, labels
		if strings.Contains(tc.name, "gzip") {
			img, lbl = gzipped(img), gzipped(lbl)
		}
		d, err := LoadIDX(writeFile(t, dir, tc.imgFile, img), writeFile(t, dir, tc.lblFile, lbl))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.Len() != 3 || d.Features != 4 || d.Shape != [2]int{2, 2} || d.Classes != 5 {
			t.Errorf("%s: got Len %d Features %d Shape %v Classes %d, want 3 4 [2 2] 5",
				tc.name, d.Len(), d.Features, d.Shape, d.Classes)
		}
		x := d.Inputs()
		if d.X != nil || len(d.Pixels) != 12 {
			t.Errorf("%s: %d floats and %d pixels, want the 12 pixels as bytes", tc.name, len(d.X), len(d.Pixels))
		}
		if want := []float32{0, 0.2, 1, 0.4}; !equal(x[:4], want) {
			t.Errorf("%s: first image %v want %v", tc.name, x[:4], want)
		}
		if x[4] != 1.0/255 {
			t.Errorf("%s: image 1 pixel 0 = %v want 1/255", tc.name, x[4])
		}
		if want := []int{4, 0, 2}; !equal(d.Labels, want) {
			t.Errorf("%s: labels %v want %v", tc.name, d.Labels, want)
		}
		if d.Name != tc.imgFile {
			t.Errorf("%s: Name %q want %q", tc.name, d.Name, tc.imgFile)
		}
	}
	// Without labels: images only, for prediction.
	d, err := LoadIDX(writeFile(t, t.TempDir(), "img", images), "")
	if err != nil || d.Len() != 3 || d.Labels != nil || d.TargetWidth() != 0 {
		t.Errorf("images only: got %v, %+v", err, d)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadIDXErrors(t *testing.T) {
	good := idxImages(3, 2, 2, pixIJ) // 16 + 12 bytes
	goodLabels := idxLabels(1, 2, 3)
	huge := append(idxHeader(idxImagesMagic, 1<<32-1, 28, 28), make([]byte, 5000)...)
	badCRC := gzipped(good)
	badCRC[len(badCRC)-8] ^= 0xff // first byte of the CRC-32 trailer
	tests := []struct {
		name           string
		images, labels []byte
		wantErr        string // substring; the images file is called "img", labels "lbl"
	}{
		{"labels given as images", goodLabels, goodLabels,
			"img: bad magic 0x00000801 at byte 0, want 0x00000803"},
		{"images given as labels", good, good,
			"lbl: bad magic 0x00000803 at byte 0, want 0x00000801"},
		{"not IDX at all", []byte("hello, world, this is text"), goodLabels, "img: bad magic 0x68656c6c"},
		{"empty file", nil, goodLabels, "img: header: truncated at byte 0"},
		{"truncated header", good[:9], goodLabels, "img: header: truncated at byte 9"},
		{"truncated gzipped header", gzipped(good[:5]), goodLabels, "img: header: truncated at byte 5"},
		{"truncated image", good[:26], goodLabels,
			"img: image 2: truncated at byte 26: header declares 3 images of 2×2 (28 bytes), file has 26"},
		{"truncated gzipped image", gzipped(good[:26]), goodLabels, "img: image 2: truncated at byte 26"},
		{"missing image", good[:24], goodLabels, "img: image 2: truncated at byte 24"},
		{"cut gzip stream", gzipped(good)[:20], goodLabels, "img: header: truncated at byte 12"},
		{"gzip trailer missing", gzipped(good)[:35], goodLabels,
			"img: after image 2, the last the header declares: truncated at byte 28"},
		{"trailing bytes", append(good[:28:28], 7, 7), goodLabels,
			"img: 2 bytes after the last image: header declares 3 images of 2×2 (28 bytes), file has 30"},
		{"gzipped trailing bytes", gzipped(append(good[:28:28], 7)), goodLabels,
			"img: unexpected data at byte 28 after image 2, the last the header declares"},
		{"bad gzip checksum", badCRC, goodLabels, "img: after image 2, the last the header declares: at byte 28: gzip: invalid checksum"},
		{"zero images", idxImages(0, 2, 2, pixIJ), idxLabels(), "img: header declares 0 images of 2×2 pixels"},
		{"zero rows", idxImages(3, 0, 2, pixIJ), goodLabels, "header declares 3 images of 0×2 pixels"},
		{"giant images", idxHeader(idxImagesMagic, 1, 1<<13, 1<<12), goodLabels,
			"header declares 1 images of 8192×4096 pixels"},
		{"header claims 4 billion images", huge, goodLabels, "img: image 6: truncated at byte 5016: header declares 4294967295 images of 28×28"},
		{"gzipped header claims 4 billion images", gzipped(huge), goodLabels, "img: image 6: truncated at byte 5016"},
		{"truncated label", good, goodLabels[:10], "lbl: label 2: truncated at byte 10: header declares 3 labels, file has 10 bytes"},
		{"gzipped truncated label", good, gzipped(goodLabels[:10]), "lbl: label 2: truncated at byte 10"},
		{"trailing label bytes", good, append(goodLabels, 0), "lbl: 1 bytes after the last label"},
		{"fewer labels than images", good, idxLabels(1, 2), "2 labels for 3 images"},
		{"more labels than images", good, gzipped(idxLabels(1, 2, 3, 4)), "4 labels for 3 images"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		_, err := LoadIDX(writeFile(t, dir, "img", tc.images), writeFile(t, dir, "lbl", tc.labels))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got error %v\nwant one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestLoadIDXErrorNamesFiles(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, dir, "train-images.gz", idxImages(2, 1, 1, pixIJ))
	lbl := writeFile(t, dir, "train-labels.gz", idxLabels(1))
	_, err := LoadIDX(img, lbl)
	if want := "load idx " + img + " with " + lbl + ": 1 labels for 2 images"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, err = LoadIDX(filepath.Join(dir, "nope"), lbl)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestLabelOutOfRange(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, dir, "img", idxImages(3, 1, 1, pixIJ))
	lbl := writeFile(t, dir, "lbl", gzipped(idxLabels(9, 12, 0)))
	_, err := loadIDX(img, lbl, 10)
	if want := "load idx " + lbl + ": label 1: value 12 at byte 9 out of range [0, 10)"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if d, err := LoadIDX(img, lbl); err != nil || d.Classes != 13 {
		t.Errorf("unbounded: got %v, Classes %d want 13", err, d.Classes)
	}
}
