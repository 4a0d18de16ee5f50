package worker

import (
	"io"
	"testing"

	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// chunks is a stream of DataChunks for receive.
type chunks []*ringtrainv1.DataChunk

func (c *chunks) Recv() (*ringtrainv1.DataChunk, error) {
	if len(*c) == 0 {
		return nil, io.EOF
	}
	d := (*c)[0]
	*c = (*c)[1:]
	return d, nil
}

// TestReceive: a stream arrives whole whatever its first chunk announces;
// a true total is allocated once.
func TestReceive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		total  int64
		oneCap bool
	}{{"no total", 0, false}, {"true total", 6, true}, {"short total", 2, false}, {"absurd total", maxStream + 1, false}} {
		s := chunks{{Data: []byte("abc"), Total: tc.total}, {Data: []byte("def")}}
		b, err := receive(&s)
		if err != nil || string(b) != "abcdef" {
			t.Errorf("%s: got %q, %v; want abcdef", tc.name, b, err)
		}
		if tc.oneCap && cap(b) != 6 {
			t.Errorf("%s: capacity %d, want 6", tc.name, cap(b))
		}
	}
}
