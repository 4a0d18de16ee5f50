package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFashion writes a tiny Fashion-MNIST look-alike (2×2 images) into dir
// under the given file names.
func writeFashion(t *testing.T, dir string, names [4]string, compress bool, trainLabels ...byte) {
	t.Helper()
	files := [4][]byte{
		idxImages(len(trainLabels), 2, 2, pixIJ), idxLabels(trainLabels...),
		idxImages(2, 2, 2, pixIJ), idxLabels(3, 1),
	}
	for i, b := range files {
		if compress {
			b = gzipped(b)
		}
		writeFile(t, dir, names[i], b)
	}
}

var (
	gzNames     = [4]string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
	rawNames    = [4]string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
	dottedNames = [4]string{"train-images.idx3-ubyte", "train-labels.idx1-ubyte", "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"}
)

func TestFashionMNISTFindsFiles(t *testing.T) {
	tests := []struct {
		name     string
		sub      string // where the files go below the directory we name
		files    [4]string
		compress bool
		viaEnv   bool
	}{
		{"gzipped, as Debian ships them", "", gzNames, true, false},
		{"uncompressed", "", rawNames, false, false},
		{"MNIST site's dotted names", "", dottedNames, false, false},
		{"in a fashion-mnist subdirectory", "fashion-mnist", gzNames, true, false},
		{"from RINGTRAIN_DATA", "", gzNames, true, true},
	}
	for _, tc := range tests {
		root := t.TempDir()
		writeFashion(t, filepath.Join(root, tc.sub), tc.files, tc.compress, 0, 9, 4)
		dir := root
		if tc.viaEnv {
			t.Setenv("RINGTRAIN_DATA", root)
			dir = ""
		}
		train, test, err := FashionMNIST(dir)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if train.Len() != 3 || test.Len() != 2 || train.Classes != 10 || test.Classes != 10 {
			t.Errorf("%s: got %d train, %d test rows, Classes %d/%d; want 3, 2, 10/10",
				tc.name, train.Len(), test.Len(), train.Classes, test.Classes)
		}
		if train.Name != "fashion-mnist/train" || test.Name != "fashion-mnist/test" {
			t.Errorf("%s: names %q, %q", tc.name, train.Name, test.Name)
		}
	}
}

func TestFashionMNISTErrors(t *testing.T) {
	empty := t.TempDir()
	_, _, err := FashionMNIST(empty)
	for _, want := range []string{"train-images-idx3-ubyte(.gz) not found in " + empty,
		"apt-get install dataset-fashion-mnist", "RINGTRAIN_DATA", "dataset.path"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty dir: got %v\nwant it to contain %q", err, want)
		}
	}

	dir := t.TempDir()
	writeFashion(t, dir, gzNames, true, 0, 10, 4)
	_, _, err = FashionMNIST(dir)
	want := "fashion-mnist: load idx " + filepath.Join(dir, gzNames[1]) + ": label 1: value 10 at byte 9 out of range [0, 10)"
	if err == nil || err.Error() != want {
		t.Errorf("label 10: got %v\nwant %s", err, want)
	}

	dir = t.TempDir()
	writeFashion(t, dir, gzNames, true, 0, 1)
	if err := os.Remove(filepath.Join(dir, gzNames[3])); err != nil {
		t.Fatal(err)
	}
	if _, _, err = FashionMNIST(dir); err == nil || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte(.gz) not found") {
		t.Errorf("missing test labels: got %v", err)
	}
}

// TestFashionMNISTReal loads the installed dataset.
func TestFashionMNISTReal(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, gzNames[0])); err != nil {
		t.Skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
	}
	train, test, err := FashionMNIST(DefaultFashionMNISTDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d      *Dataset
		n, per int
	}{{train, 60000, 6000}, {test, 10000, 1000}} {
		if tc.d.Len() != tc.n || tc.d.Features != 784 || tc.d.Classes != 10 || tc.d.Shape != [2]int{28, 28} {
			t.Errorf("%s: Len %d Features %d Classes %d Shape %v; want %d 784 10 [28 28]",
				tc.d.Name, tc.d.Len(), tc.d.Features, tc.d.Classes, tc.d.Shape, tc.n)
		}
		// Fashion-MNIST is balanced: every class has the same count.
		count := make([]int, 10)
		for _, l := range tc.d.Labels {
			count[l]++
		}
		for c, k := range count {
			if k != tc.per {
				t.Errorf("%s: class %d has %d rows, want %d", tc.d.Name, c, k, tc.per)
			}
		}
	}
	// The scaling is by 1/255: the darkest pixel is 0 and the brightest 1.
	// (The test set alone: scanning 47M floats is slow under -race.)
	x := test.Inputs()
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("test: pixels in [%v, %v], want [0, 1]", lo, hi)
	}
}
