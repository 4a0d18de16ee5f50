package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/pkg/data"
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

// datasetCoordinator serves one encoded dataset, and counts the fetches.
type datasetCoordinator struct {
	ringtrainv1.WorkerServiceClient
	raw     []byte
	fetches int
}

func (c *datasetCoordinator) GetDataset(context.Context, *ringtrainv1.GetDatasetRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[ringtrainv1.DataChunk], error) {
	c.fetches++
	return &chunkStream{chunks: chunks{{Data: c.raw, Total: int64(len(c.raw))}}}, nil
}

type chunkStream struct {
	grpc.ClientStream
	chunks
}

// TestDatasetDigest: a dataset is fetched when the worker holds none of
// that digest, refused when what arrives has another, and not fetched
// again for a later job with the same digest.
func TestDatasetDigest(t *testing.T) {
	ds, err := data.Synthetic("blobs", 30, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ds.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	good, bad := hex.EncodeToString(sum[:]), strings.Repeat("0", 64)
	coord := &datasetCoordinator{raw: raw}
	w := &Worker{coord: coord, log: slog.New(slog.DiscardHandler), metrics: NewMetrics(nil)}
	for _, step := range []struct {
		name    string
		sum     string
		err     error
		fetches int
	}{
		{"wrong digest", bad, ErrDatasetDigest, 1},
		{"right digest", good, nil, 2},
		{"held", good, nil, 2},
		{"no digest (an older coordinator)", "", nil, 3},
	} {
		got, err := w.dataset(context.Background(), "j", step.sum)
		if !errors.Is(err, step.err) {
			t.Errorf("%s: error %v, want %v", step.name, err, step.err)
		}
		if err == nil && !slices.Equal(got.Inputs(), ds.Inputs()) {
			t.Errorf("%s: the dataset changed on the way", step.name)
		}
		if coord.fetches != step.fetches {
			t.Errorf("%s: %d fetches, want %d", step.name, coord.fetches, step.fetches)
		}
	}
}
