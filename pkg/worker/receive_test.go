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

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
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

// checkpointCoordinator serves one encoded checkpoint.
type checkpointCoordinator struct {
	ringtrainv1.WorkerServiceClient
	raw []byte
}

func (c *checkpointCoordinator) GetCheckpoint(context.Context, *ringtrainv1.GetCheckpointRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[ringtrainv1.DataChunk], error) {
	return &chunkStream{chunks: chunks{{Data: c.raw, Total: int64(len(c.raw))}}}, nil
}

// TestFailedRestoreForgetsChecksum: a checkpoint whose parameters fit but
// whose optimiser state does not leaves the replica half restored; it must
// then hold no checksum, or a plan that starts from the state it held
// before would skip the restore and start from the mixture.
func TestFailedRestoreForgetsChecksum(t *testing.T) {
	spec, err := jobspec.Parse([]byte(`
dataset: {name: blobs, samples: 30}
model: {layers: [{units: 4, activation: tanh}, {units: 3, activation: softmax}]}
training: {optimizer: {kind: momentum, learning_rate: 0.1}, batch_size: 8, epochs: 2}`))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Synthetic("blobs", 30, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := newReplica(spec, ds)
	if err != nil {
		t.Fatal(err)
	}
	js := &jobState{id: "j", spec: spec, ds: ds, rep: rep, sum: rep.checksum()}
	before := js.sum
	tr := rep.(*typedReplica[float32]).rep
	c := &checkpoint.Checkpoint[float32]{Model: checkpoint.Model[float32]{Arch: tr.Net.Arch(), Params: make([]float32, tr.Net.NumParams())},
		OptimizerState: make([]float32, 3), Steps: 1, Epoch: 1} // momentum needs one value a parameter
	raw, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	w := &Worker{coord: &checkpointCoordinator{raw: raw}, log: slog.New(slog.DiscardHandler), metrics: NewMetrics(nil)}
	if err := w.restore(context.Background(), js, &epoch.Plan{Job: "j", Epoch: 1, Checksum: "another"}); err == nil {
		t.Fatal("restored an optimiser state of the wrong length")
	}
	if js.sum != "" {
		t.Errorf("after a failed restore the replica claims checksum %s (it held %s before)", js.sum, before)
	}
}
