package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the four IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTLabels are Fashion-MNIST's class names, in label order.
var FashionMNISTLabels = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// fashionClasses is Fashion-MNIST's number of classes.
var fashionClasses = len(FashionMNISTLabels)

// FashionMNIST loads the Fashion-MNIST training (60,000) and test (10,000)
// sets from dir; dir "" means $RINGTRAIN_DATA, then DefaultFashionMNISTDir.
// The files may be gzipped or not, in dir itself or in dir/fashion-mnist.
// Both sets have Classes 10 and Shape [28, 28]; a label outside [0, 10) is
// an error.
func FashionMNIST(dir string) (train, test *Dataset, err error) {
	if dir == "" {
		dir = os.Getenv("RINGTRAIN_DATA")
	}
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	load := func(split, images, labels string) (*Dataset, error) {
		ip, err := findIDX(dir, images)
		if err != nil {
			return nil, err
		}
		lp, err := findIDX(dir, labels)
		if err != nil {
			return nil, err
		}
		d, err := loadIDX(ip, lp, fashionClasses)
		if err != nil {
			return nil, fmt.Errorf("fashion-mnist: %w", err)
		}
		d.Classes = fashionClasses // even if a class is absent from a subset
		d.Name = "fashion-mnist/" + split
		return d, nil
	}
	if train, err = load("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"); err != nil {
		return nil, nil, err
	}
	if test, err = load("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// findIDX finds the file called name, with or without .gz, in dir or
// dir/fashion-mnist; the original MNIST site's names (a dot before idx)
// are accepted too.
func findIDX(dir, name string) (string, error) {
	dotted := strings.Replace(name, "-idx", ".idx", 1)
	for _, d := range []string{dir, filepath.Join(dir, "fashion-mnist")} {
		for _, n := range []string{name + ".gz", name, dotted + ".gz", dotted} {
			p := filepath.Join(d, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("fashion-mnist: %s(.gz) not found in %s: install it with "+
		"\"apt-get install dataset-fashion-mnist\", or set RINGTRAIN_DATA or the job's dataset.path "+
		"to a directory holding the four Fashion-MNIST IDX files", name, dir)
}
