package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

const xorSpec = `
name: xor
dataset: {name: xor, samples: 40}
model: {layers: [{units: 4, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: sgd, learning_rate: 0.1}, batch_size: 8, epochs: 3}
`

// newTestServer is a server on a test etcd, without a scheduler, whose
// queue takes queueLen submissions: enough for the calls that only record
// jobs.
func newTestServer(t *testing.T, queueLen int) *Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return newServer(Config{DataDir: dir, Etcd: etcdtest.Client(t, etcdtest.Start(t)), Metrics: NewMetrics(nil), Logger: slog.New(slog.DiscardHandler)}, queueLen)
}

func testJob(t *testing.T) *job {
	t.Helper()
	spec, err := jobspec.Parse([]byte(xorSpec))
	if err != nil {
		t.Fatal(err)
	}
	return newJob("xor-1", spec, []byte(xorSpec), t.TempDir(), 1, 0)
}

func TestSubmitJobQueueFull(t *testing.T) {
	s := newTestServer(t, 1)
	tests := []struct {
		want codes.Code
		jobs int // listed after the call
	}{
		{codes.OK, 1},
		{codes.ResourceExhausted, 1},
	}
	for i, tc := range tests {
		_, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)})
		if got := status.Code(err); got != tc.want {
			t.Errorf("test %d: got %v (%v) want %v", i, got, err, tc.want)
		}
		resp, err := s.ListJobs(t.Context(), &ringtrainv1.ListJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resp.GetJobs()); got != tc.jobs {
			t.Errorf("test %d: got %d jobs listed want %d", i, got, tc.jobs)
		}
		dirs, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "jobs"))
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) != tc.jobs {
			t.Errorf("test %d: got %d job directories want %d", i, len(dirs), tc.jobs)
		}
	}
}

// TestCancelWhileStarting cancels a job between runJob storing its cancel
// function and marking it running.
func TestCancelWhileStarting(t *testing.T) {
	s := newTestServer(t, 1)
	j := testJob(t)
	s.jobs[j.id] = j
	watch, _ := j.subscribe()
	called := false
	j.mu.Lock()
	j.cancel = func() { called = true }
	j.mu.Unlock()
	if _, err := s.CancelJob(t.Context(), &ringtrainv1.CancelJobRequest{JobId: j.id}); err != nil {
		t.Fatal(err)
	}
	j.update(func(pb *ringtrainv1.Job) { pb.State = ringtrainv1.JobState_JOB_STATE_RUNNING }, nil)
	if got, want := j.snapshot().GetState(), ringtrainv1.JobState_JOB_STATE_CANCELLED; got != want {
		t.Errorf("got state %v want %v", got, want)
	}
	if !called {
		t.Error("the run's context was not cancelled")
	}
	for range watch {
	} // closed by the cancel; a watcher then sees the job ended
}

func TestUpdateKeepsFinalState(t *testing.T) {
	for _, end := range []ringtrainv1.JobState{ringtrainv1.JobState_JOB_STATE_SUCCEEDED, ringtrainv1.JobState_JOB_STATE_FAILED, ringtrainv1.JobState_JOB_STATE_CANCELLED} {
		j := testJob(t)
		j.update(func(pb *ringtrainv1.Job) { pb.State = end }, nil)
		j.update(func(pb *ringtrainv1.Job) { pb.State, pb.Epoch = ringtrainv1.JobState_JOB_STATE_RUNNING, 2 }, nil)
		if got := j.snapshot(); got.GetState() != end || got.GetEpoch() != 0 {
			t.Errorf("%v: an update changed it to %v, epoch %d", end, got.GetState(), got.GetEpoch())
		}
	}
}

// TestSaveModel checks which ended runs keep a model.
func TestSaveModel(t *testing.T) {
	tests := []struct {
		epochs int
		cause  error
		model  bool
	}{
		{1, nil, true},
		{1, errCanceled, true},
		{0, errCanceled, false},
		{1, fmt.Errorf("wait for workers: %w", errors.New("etcd is gone")), false},
		{2, fmt.Errorf("epoch 3: %w", errFatal), false},
	}
	for i, tc := range tests {
		j := testJob(t)
		sets, err := train.LoadData(j.spec)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := train.NewReplica[float32](j.spec, train.ShapeOf(sets.Train), sets.Train.Len(), 1)
		if err != nil {
			t.Fatal(err)
		}
		track := train.NewTracker(rep.Net.Params(), false, 0)
		for ep := range tc.epochs {
			track.Observe(&train.EpochReport{Epoch: ep + 1, Epochs: 3}, rep.Net.Params())
		}
		_, err = saveModel(nil, j, rep, track, sets, tc.cause)
		if err != tc.cause {
			t.Errorf("test %d: got error %v want %v", i, err, tc.cause)
		}
		j.mu.Lock()
		path := j.model
		j.mu.Unlock()
		_, statErr := os.Stat(filepath.Join(j.dir, "model.safetensors"))
		if got := path != "" && statErr == nil; got != tc.model {
			t.Errorf("test %d: %d epochs, cause %v: got model %v (%q, %v) want %v", i, tc.epochs, tc.cause, got, path, statErr, tc.model)
		}
		if tc.model {
			if _, err := checkpoint.LoadModel[float32](path); err != nil {
				t.Errorf("test %d: %v", i, err)
			}
		}
	}
}

// TestSubmitJobIDCollision draws a suffix that names a job already there:
// the submission draws again rather than overwrite it.
func TestSubmitJobIDCollision(t *testing.T) {
	s := newTestServer(t, 4)
	defer func(r io.Reader) { jobIDRand = r }(jobIDRand)
	// The first job takes 000000; the second draws 000000 too, then 0a0b0c;
	// the third draws only 000000 and 0a0b0c, then runs out.
	jobIDRand = bytes.NewReader([]byte{0, 0, 0, 0, 0, 0, 10, 11, 12, 0, 0, 0, 10, 11, 12})
	other := strings.Replace(xorSpec, "epochs: 3", "epochs: 2", 1)
	first, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(other)})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetId() != "xor-000000" || second.GetId() != "xor-0a0b0c" {
		t.Errorf("got ids %s and %s, want xor-000000 and xor-0a0b0c", first.GetId(), second.GetId())
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "jobs", first.GetId(), "spec.yaml")); err != nil || string(b) != xorSpec {
		t.Errorf("the first job's spec: %q, %v; want it as submitted", b, err)
	}
	if _, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)}); status.Code(err) != codes.Internal {
		t.Errorf("with no free id left to draw: got %v, want Internal", err)
	}
	resp, err := s.ListJobs(t.Context(), &ringtrainv1.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetJobs()) != 2 {
		t.Errorf("listed %d jobs, want 2", len(resp.GetJobs()))
	}
}

// TestSubmitJobNotRecorded: a job whose record cannot be written to etcd
// (here, because this coordinator no longer leads) is refused, not
// acknowledged and then unknown to the next coordinator, and leaves
// nothing behind.
func TestSubmitJobNotRecorded(t *testing.T) {
	s := newTestServer(t, 4)
	s.fence = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("no-such-election-key"), "=", 1)}
	abdicated := false
	s.abdicate = func() { abdicated = true }
	if _, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)}); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if !abdicated {
		t.Error("a refused write did not end the leading")
	}
	if resp, err := s.ListJobs(t.Context(), &ringtrainv1.ListJobsRequest{}); err != nil || len(resp.GetJobs()) != 0 {
		t.Errorf("listed %d jobs (%v), want none", len(resp.GetJobs()), err)
	}
	if dirs, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "jobs")); err != nil || len(dirs) != 0 {
		t.Errorf("%d job directories left (%v), want none", len(dirs), err)
	}
	if resp, err := s.cfg.Etcd.Get(t.Context(), etcdkeys.JobsPrefix, clientv3.WithPrefix()); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("%d job records left (%v), want none", len(resp.Kvs), err)
	}
	if j := s.next(); j != nil {
		t.Errorf("job %s queued", j.id)
	}
}

// TestSubmitJobQueueFullConcurrently: submissions at once, each between
// its check of the queue's room and its queueing for an etcd round trip,
// still queue no more than the queue holds.
func TestSubmitJobQueueFullConcurrently(t *testing.T) {
	s := newTestServer(t, 2)
	const n = 8
	codesSeen := make(chan codes.Code, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.SubmitJob(t.Context(), &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)})
			codesSeen <- status.Code(err)
		})
	}
	wg.Wait()
	close(codesSeen)
	ok := 0
	for c := range codesSeen {
		switch c {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
		default:
			t.Errorf("got %v, want OK or ResourceExhausted", c)
		}
	}
	if ok != 2 {
		t.Errorf("%d submissions accepted into a queue of 2", ok)
	}
}
