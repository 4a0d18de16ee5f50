package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// idxHeader builds an IDX header.
func idxHeader(magic uint32, dims ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// idxImages builds an IDX image file of n images whose pixel j of image i
// is pix(i, j).
func idxImages(n, rows, cols int, pix func(i, j int) byte) []byte {
	b := idxHeader(idxImagesMagic, uint32(n), uint32(rows), uint32(cols))
	for i := range n {
		for j := range rows * cols {
			b = append(b, pix(i, j))
		}
	}
	return b
}

// idxLabels builds an IDX label file.
func idxLabels(labels ...byte) []byte {
	return append(idxHeader(idxLabelsMagic, uint32(len(labels))), labels...)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pixIJ gives every pixel a distinct-ish value so that misplaced bytes show.
func pixIJ(i, j int) byte { return byte(i*16 + j) }
