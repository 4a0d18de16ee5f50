package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// IDX magic numbers: two zero bytes, element type 0x08 (unsigned byte), and
// the number of dimensions.
const (
	idxLabelsMagic = 0x00000801
	idxImagesMagic = 0x00000803
)

// Bounds on what a header may make us allocate. Deflate expands at most
// 1032:1, so a gzipped file of s bytes holds at most 1032·s; preallocating no
// more than that, nor more than maxPrealloc, keeps a lying header from
// exhausting memory before the data runs out.
const (
	maxImagePixels  = 1 << 24
	maxDeflateRatio = 1032
	maxPrealloc     = 1 << 27
	readChunk       = 1 << 16
)

// LoadIDX reads an IDX image file and its IDX label file (the MNIST layout),
// each gzipped or raw: gzip is recognised by its magic bytes, not its name.
// Pixels are scaled to [0,1], Shape is [rows, cols] and Classes is the
// largest label plus one. With labelsPath "" only the images are read, for
// prediction. Byte offsets in errors count the decompressed stream.
func LoadIDX(imagesPath, labelsPath string) (*Dataset, error) {
	return loadIDX(imagesPath, labelsPath, 0)
}

// loadIDX is LoadIDX with labels required to be below classes (0: any).
func loadIDX(imagesPath, labelsPath string, classes int) (*Dataset, error) {
	d := &Dataset{Name: filepath.Base(imagesPath)}
	err := withFile(imagesPath, func(r io.Reader, size int64) (err error) {
		d.Pixels, d.Shape, err = decodeImages(r, size)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Features = d.Shape[0] * d.Shape[1]
	if labelsPath == "" {
		return d, nil
	}
	var labels []int
	err = withFile(labelsPath, func(r io.Reader, size int64) (err error) {
		labels, err = decodeLabels(r, size, classes)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := attachLabels(d, labels); err != nil {
		return nil, fmt.Errorf("load idx %s with %s: %w", imagesPath, labelsPath, err)
	}
	return d, nil
}

// withFile opens path and decodes it, naming the path in any error.
func withFile(path string, decode func(r io.Reader, size int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load idx: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	if err := decode(f, size); err != nil {
		return fmt.Errorf("load idx %s: %w", path, err)
	}
	return nil
}

// attachLabels sets d's labels and Classes after checking there is one label
// per image.
func attachLabels(d *Dataset, labels []int) error {
	if len(labels) != d.Len() {
		return fmt.Errorf("%d labels for %d images", len(labels), d.Len())
	}
	d.Labels = labels
	for _, l := range labels {
		d.Classes = max(d.Classes, l+1)
	}
	return nil
}

// pixelScale maps a byte pixel to its value in [0,1]. The image readers and
// the dataset's wire form share it, so a pixel is the same float whichever
// way it arrived.
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// decodeImages reads an IDX image stream of size bytes on disk (-1 if
// unknown) into its pixels and the images' [rows, cols].
func decodeImages(r io.Reader, size int64) ([]uint8, [2]int, error) {
	s, gz, err := decompress(r)
	if err != nil {
		return nil, [2]int{}, err
	}
	dims, err := readHeader(s, idxImagesMagic, 3)
	if err != nil {
		return nil, [2]int{}, err
	}
	n, rows, cols := dims[0], dims[1], dims[2]
	if n == 0 || rows == 0 || cols == 0 || rows > maxImagePixels/cols {
		return nil, [2]int{}, fmt.Errorf("header declares %d images of %d×%d pixels", n, rows, cols)
	}
	pixels := rows * cols
	total := n * pixels
	if !gz && size >= 0 && size != 16+total {
		declared := fmt.Sprintf("header declares %d images of %d×%d (%d bytes), file has %d", n, rows, cols, 16+total, size)
		if size < 16+total {
			return nil, [2]int{}, fmt.Errorf("image %d: truncated at byte %d: %s", (size-16)/pixels, size, declared)
		}
		return nil, [2]int{}, fmt.Errorf("%d bytes after the last image: %s", size-16-total, declared)
	}
	x := make([]uint8, 0, prealloc(total, size, gz))
	err = readRecords(s, 16, n, pixels, "image", func(b []byte) error {
		x = append(x, b...)
		return nil
	})
	if err != nil {
		return nil, [2]int{}, err
	}
	return x, [2]int{int(rows), int(cols)}, nil
}

// decodeLabels reads an IDX label stream of size bytes on disk (-1 if
// unknown). A label not below classes (when classes > 0) is an error.
func decodeLabels(r io.Reader, size int64, classes int) ([]int, error) {
	s, gz, err := decompress(r)
	if err != nil {
		return nil, err
	}
	dims, err := readHeader(s, idxLabelsMagic, 1)
	if err != nil {
		return nil, err
	}
	n := dims[0]
	if !gz && size >= 0 && size != 8+n {
		declared := fmt.Sprintf("header declares %d labels, file has %d bytes", n, size)
		if size < 8+n {
			return nil, fmt.Errorf("label %d: truncated at byte %d: %s", size-8, size, declared)
		}
		return nil, fmt.Errorf("%d bytes after the last label: %s", size-8-n, declared)
	}
	labels := make([]int, 0, prealloc(n, size, gz))
	err = readRecords(s, 8, n, 1, "label", func(b []byte) error {
		for _, v := range b {
			if classes > 0 && int(v) >= classes {
				i := len(labels)
				return fmt.Errorf("label %d: value %d at byte %d out of range [0, %d)", i, v, 8+i, classes)
			}
			labels = append(labels, int(v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return labels, nil
}

// decompress returns r's content, gunzipped if r starts with gzip's magic.
func decompress(r io.Reader) (io.Reader, bool, error) {
	br := bufio.NewReaderSize(r, readChunk)
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, fmt.Errorf("gzip header: %w", err)
		}
		return zr, true, nil
	}
	return br, false, nil
}

// readHeader reads the magic number, checks it and returns the dims sizes.
func readHeader(r io.Reader, magic uint32, dims int) ([]int64, error) {
	var buf [16]byte
	if got, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, fmt.Errorf("header: %w", readErr(int64(got), err))
	}
	if m := binary.BigEndian.Uint32(buf[:4]); m != magic {
		return nil, fmt.Errorf("bad magic 0x%08x at byte 0, want 0x%08x (unsigned bytes, %d dimensions)", m, magic, dims)
	}
	if got, err := io.ReadFull(r, buf[4:4+4*dims]); err != nil {
		return nil, fmt.Errorf("header: %w", readErr(int64(4+got), err))
	}
	sizes := make([]int64, dims)
	for i := range sizes {
		sizes[i] = int64(binary.BigEndian.Uint32(buf[4+4*i:]))
	}
	return sizes, nil
}

// readRecords reads n records of size bytes that start at byte off of s,
// passing them to use in chunks, and then checks that s ends there. Errors
// name the record being read and the byte offset.
func readRecords(s io.Reader, off, n, size int64, what string, use func([]byte) error) error {
	total := n * size
	buf := make([]byte, min(readChunk, total))
	for done := int64(0); done < total; {
		got, err := io.ReadFull(s, buf[:min(int64(len(buf)), total-done)])
		if uerr := use(buf[:got]); uerr != nil {
			return uerr
		}
		done += int64(got)
		if err != nil {
			return fmt.Errorf("%s %d: %w", what, done/size, readErr(off+done, err))
		}
	}
	last := "the header"
	if n > 0 {
		last = fmt.Sprintf("%s %d, the last the header declares", what, n-1)
	}
	var one [1]byte
	switch got, err := io.ReadFull(s, one[:]); {
	case got > 0:
		return fmt.Errorf("unexpected data at byte %d after %s", off+total, last)
	case err != io.EOF:
		return fmt.Errorf("after %s: %w", last, readErr(off+total, err))
	}
	return nil
}

// readErr says that the stream ended at byte off, or why reading failed there.
func readErr(off int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated at byte %d", off)
	}
	return fmt.Errorf("at byte %d: %w", off, err)
}

// prealloc is how many elements to reserve for total declared ones.
func prealloc(total, size int64, gz bool) int64 {
	c := min(total, maxPrealloc)
	if gz && size >= 0 {
		c = min(c, maxDeflateRatio*size)
	}
	return c
}
