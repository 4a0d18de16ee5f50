package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/internal/progress"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/nn"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

const (
	queued    = ringtrainv1.JobState_JOB_STATE_QUEUED
	running   = ringtrainv1.JobState_JOB_STATE_RUNNING
	succeeded = ringtrainv1.JobState_JOB_STATE_SUCCEEDED
	failed    = ringtrainv1.JobState_JOB_STATE_FAILED
	cancelled = ringtrainv1.JobState_JOB_STATE_CANCELLED
)

// fakeJobService answers the CLI with canned responses and records what
// it was sent; the CLI's wiring, not the coordinator, is under test.
type fakeJobService struct {
	ringtrainv1.UnimplementedJobServiceServer

	mu        sync.Mutex
	jobs      map[string]*ringtrainv1.Job
	events    []*ringtrainv1.JobEvent // what WatchJob sends, then it ends
	model     []byte
	modelErr  error // GetModel's answer when set
	workers   []*ringtrainv1.Worker
	submitErr error // SubmitJob's answer when set
	workerErr error // ListWorkers' answer when set
	submitted *ringtrainv1.SubmitJobRequest
	// holdWatch, when set, keeps WatchJob open after its events until the
	// client goes, closing holdWatch once they are sent.
	holdWatch chan struct{}
}

func (f *fakeJobService) lastSubmit() *ringtrainv1.SubmitJobRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submitted
}

func (f *fakeJobService) job(id string) (*ringtrainv1.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "job %s not found", id)
	}
	return proto.Clone(j).(*ringtrainv1.Job), nil
}

func (f *fakeJobService) SubmitJob(_ context.Context, req *ringtrainv1.SubmitJobRequest) (*ringtrainv1.Job, error) {
	f.mu.Lock()
	f.submitted = req
	f.mu.Unlock()
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	return f.job("xor-1")
}

func (f *fakeJobService) ListJobs(context.Context, *ringtrainv1.ListJobsRequest) (*ringtrainv1.ListJobsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &ringtrainv1.ListJobsResponse{}
	for _, j := range f.jobs {
		resp.Jobs = append(resp.Jobs, j)
	}
	slices.SortFunc(resp.Jobs, func(a, b *ringtrainv1.Job) int { return strings.Compare(a.Id, b.Id) })
	return resp, nil
}

func (f *fakeJobService) GetJob(_ context.Context, req *ringtrainv1.GetJobRequest) (*ringtrainv1.Job, error) {
	return f.job(req.GetJobId())
}

func (f *fakeJobService) WatchJob(req *ringtrainv1.WatchJobRequest, stream ringtrainv1.JobService_WatchJobServer) error {
	if _, err := f.job(req.GetJobId()); err != nil {
		return err
	}
	for _, ev := range f.events {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	if f.holdWatch != nil {
		close(f.holdWatch)
		<-stream.Context().Done()
	}
	return nil
}

func (f *fakeJobService) CancelJob(_ context.Context, req *ringtrainv1.CancelJobRequest) (*ringtrainv1.Job, error) {
	j, err := f.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	if j.State == queued {
		j.State = cancelled
	}
	return j, nil
}

func (f *fakeJobService) GetModel(req *ringtrainv1.GetModelRequest, stream ringtrainv1.JobService_GetModelServer) error {
	if _, err := f.job(req.GetJobId()); err != nil {
		return err
	}
	if f.modelErr != nil {
		return f.modelErr
	}
	// Small chunks, so that the client has to put several together.
	for b := f.model; len(b) > 0; {
		n := min(len(b), 100)
		if err := stream.Send(&ringtrainv1.DataChunk{Data: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (f *fakeJobService) ListWorkers(context.Context, *ringtrainv1.ListWorkersRequest) (*ringtrainv1.ListWorkersResponse, error) {
	if f.workerErr != nil {
		return nil, f.workerErr
	}
	return &ringtrainv1.ListWorkersResponse{Workers: f.workers}, nil
}

// serve runs f on a real gRPC server on loopback until the test ends and
// returns its address.
func serve(t *testing.T, f *fakeJobService, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	ringtrainv1.RegisterJobServiceServer(s, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// runCLI runs the cluster commands with args and returns what they wrote.
func runCLI(t *testing.T, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return runCLIContext(ctx, args...)
}

func runCLIContext(ctx context.Context, args ...string) (string, error) {
	root := &cobra.Command{Use: "coordinator", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newSubmitCmd(), newJobsCmd(), newStatusCmd(), newWatchCmd(), newCancelCmd(), newWorkersCmd(), newModelCmd())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

var created = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func runningJob() *ringtrainv1.Job {
	return &ringtrainv1.Job{Id: "fashion-a1b2c3", Name: "fashion", State: running, Epoch: 3, Epochs: 30, Workers: 2, Generation: 4,
		Classifies: true, SavedEpoch: 3, SavedTestAccuracy: 0.8752, BestTestAccuracy: 0.8801, BestTestEpoch: 2,
		CreatedUnixMs: created.UnixMilli(), MinWorkers: 2, TargetAccuracy: 0.9}
}

func TestWriteJobs(t *testing.T) {
	tests := []struct {
		jobs []*ringtrainv1.Job
		want string
	}{
		{nil, "no jobs\n"},
		{[]*ringtrainv1.Job{
			runningJob(),
			{Id: "xor-ffffff", Name: "xor", State: queued, Epochs: 50, CreatedUnixMs: created.Add(9 * time.Minute).UnixMilli()},
			{Id: "housing-000001", Name: "housing", State: succeeded, Epoch: 40, Epochs: 40, Workers: 3, SavedEpoch: 38,
				CreatedUnixMs: created.Add(-3 * 24 * time.Hour).UnixMilli()},
		}, "" +
			"ID              NAME     STATE      EPOCH  WORKERS  TEST ACC  AGE\n" +
			"fashion-a1b2c3  fashion  running    3/30   2        87.52%    10m\n" +
			"xor-ffffff      xor      queued     0/50   0        -         60s\n" +
			"housing-000001  housing  succeeded  40/40  3        -         3d\n"},
	}
	for i, tc := range tests {
		var buf bytes.Buffer
		if err := writeJobs(&buf, tc.jobs, created.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tc.want {
			t.Errorf("test %d: got\n%s\nwant\n%s", i, got, tc.want)
		}
	}
}

func TestWriteJob(t *testing.T) {
	done := runningJob()
	done.State, done.Stopped, done.WallSeconds, done.Epoch = failed, "", 61.25, 30
	done.Error = "epoch 4 failed 3 times; giving up"
	tests := []struct {
		job  *ringtrainv1.Job
		want string
	}{
		{runningJob(), "" +
			"ID:                  fashion-a1b2c3\n" +
			"Name:                fashion\n" +
			"State:               running\n" +
			"Epoch:               3/30\n" +
			"Workers:             2 (needs 2), ring generation 4\n" +
			"Created:             2025-03-01 12:00:00 (90s ago)\n" +
			"Best test accuracy:  88.01% (epoch 2)\n" +
			"Best model so far:   epoch 3, test accuracy 87.52%\n" +
			"Target accuracy:     90.00%\n"},
		{&ringtrainv1.Job{Id: "xor-1", Name: "xor", State: succeeded, Epoch: 5, Epochs: 5, Workers: 1, SavedEpoch: 5, Stopped: "completed",
			CreatedUnixMs: created.UnixMilli(), WallSeconds: 0.44}, "" +
			"ID:           xor-1\n" +
			"Name:         xor\n" +
			"State:        succeeded\n" +
			"Epoch:        5/5\n" +
			"Workers:      1 (needs 1)\n" +
			"Created:      2025-03-01 12:00:00 (90s ago)\n" +
			"Wall time:    400ms\n" +
			"Saved model:  epoch 5\n" +
			"Stopped:      completed\n"},
		{done, "" +
			"ID:                  fashion-a1b2c3\n" +
			"Name:                fashion\n" +
			"State:               failed\n" +
			"Epoch:               30/30\n" +
			"Workers:             2 (needs 2), ring generation 4\n" +
			"Created:             2025-03-01 12:00:00 (90s ago)\n" +
			"Wall time:           1m1.3s\n" +
			"Best test accuracy:  88.01% (epoch 2)\n" +
			"Best epoch:          epoch 3, test accuracy 87.52% (no model: the job failed)\n" +
			"Target accuracy:     90.00%\n" +
			"Error:               epoch 4 failed 3 times; giving up\n"},
		{&ringtrainv1.Job{Id: "xor-2", Name: "xor", State: cancelled, Epoch: 2, Epochs: 5, Workers: 2, SavedEpoch: 2, Stopped: "cancelled",
			CreatedUnixMs: created.UnixMilli()}, "" +
			"ID:           xor-2\n" +
			"Name:         xor\n" +
			"State:        cancelled\n" +
			"Epoch:        2/5\n" +
			"Workers:      2 (needs 1)\n" +
			"Created:      2025-03-01 12:00:00 (90s ago)\n" +
			"Saved model:  epoch 2\n" +
			"Stopped:      cancelled\n"},
	}
	for i, tc := range tests {
		var buf bytes.Buffer
		if err := writeJob(&buf, tc.job, created.Add(90*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tc.want {
			t.Errorf("test %d: got\n%s\nwant\n%s", i, got, tc.want)
		}
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {119 * time.Second, "119s"}, {2 * time.Minute, "2m"},
		{119 * time.Minute, "119m"}, {2 * time.Hour, "2h"}, {47 * time.Hour, "47h"}, {50 * time.Hour, "2d"},
	}
	for i, tc := range tests {
		if got := age(tc.d); got != tc.want {
			t.Errorf("test %d: age(%s): got %q want %q", i, tc.d, got, tc.want)
		}
	}
}

func TestEpochLine(t *testing.T) {
	tests := []struct {
		e           *ringtrainv1.EpochSummary
		classifies  bool
		prevWorkers int32
		want        string
	}{
		{&ringtrainv1.EpochSummary{Epoch: 3, TrainLoss: 0.43124, HasVal: true, ValAccuracy: 0.881, HasTest: true, TestAccuracy: 0.87521,
			SamplesPerSec: 81234.4, ElapsedSeconds: 12.34, Best: true, Workers: 2}, true, 2,
			"epoch 3/30  loss 0.4312  val 88.10%  test 87.52%  81,234 samples/s  12.3s  *"},
		{&ringtrainv1.EpochSummary{Epoch: 4, TrainLoss: 0.4, HasTest: true, TestAccuracy: 0.88, SamplesPerSec: 120000, ElapsedSeconds: 15, Workers: 3}, true, 2,
			"epoch 4/30  loss 0.4000  test 88.00%  120,000 samples/s  15s  workers 3"},
		{&ringtrainv1.EpochSummary{Epoch: 1, TrainLoss: 2.5, HasVal: true, ValLoss: 1.234567, HasTest: true, TestLoss: 1.5, ValAccuracy: 0.5,
			ValRmse: 1.5713, ValMae: 1.2, ValR2: 0.81234, TestRmse: 1732.05, TestMae: 0.0012345, TestR2: -0.5,
			SamplesPerSec: 999, ElapsedSeconds: 0.04, Best: true, Workers: 1}, false, 0,
			"epoch 1/30  loss 2.5000  val rmse 1.571 mae 1.2 r² 0.8123  test rmse 1732 mae 0.001234 r² -0.5000  999 samples/s  0s  workers 1  *"},
	}
	for i, tc := range tests {
		if got := epochLine(tc.e, 30, tc.classifies, tc.prevWorkers); got != tc.want {
			t.Errorf("test %d: got %q want %q", i, got, tc.want)
		}
	}
}

func TestJobOutcome(t *testing.T) {
	tests := []struct {
		job  *ringtrainv1.Job
		want string // "" for success
	}{
		{&ringtrainv1.Job{Id: "a", State: succeeded}, ""},
		{&ringtrainv1.Job{Id: "a", State: succeeded, TargetAccuracy: 0.9, SavedTestAccuracy: 0.9}, ""},
		{&ringtrainv1.Job{Id: "a", State: succeeded, TargetAccuracy: 0.9, SavedTestAccuracy: 0.8912},
			"job a: test accuracy 89.12% is below training.target_accuracy 90.00%"},
		{&ringtrainv1.Job{Id: "a", State: failed, Error: "epoch 2: checksum mismatch"}, "job a failed: epoch 2: checksum mismatch"},
		{&ringtrainv1.Job{Id: "a", State: failed}, "job a failed"},
		{&ringtrainv1.Job{Id: "a", State: cancelled, SavedTestAccuracy: 1}, "job a was cancelled"},
		{&ringtrainv1.Job{Id: "a", State: running}, "job a has not finished: it is running"},
		{nil, "job  has not finished: it is unspecified"},
	}
	for i, tc := range tests {
		err := jobOutcome(tc.job)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("test %d: got %q want %q", i, got, tc.want)
		}
	}
}

// watchEvents is a short job as WatchJob reports it: the state when the
// watch starts, what happens, and the final state.
func watchEvents(end *ringtrainv1.Job) []*ringtrainv1.JobEvent {
	j := &ringtrainv1.Job{Id: "xor-1", Name: "xor", Epochs: 2, MinWorkers: 2, Classifies: true, CreatedUnixMs: created.UnixMilli()}
	at := func(change func(*ringtrainv1.Job)) *ringtrainv1.Job {
		change(j)
		return proto.Clone(j).(*ringtrainv1.Job)
	}
	return []*ringtrainv1.JobEvent{
		{Job: at(func(j *ringtrainv1.Job) { j.State = queued })},
		{Job: at(func(j *ringtrainv1.Job) { j.State = running })},
		{Job: at(func(j *ringtrainv1.Job) {}), Event: &ringtrainv1.JobEvent_Message{Message: "ring of 2 workers (generation 1): w1, w2"}},
		{Job: at(func(j *ringtrainv1.Job) { j.Workers = 2 })},
		{Job: at(func(j *ringtrainv1.Job) {}), Event: &ringtrainv1.JobEvent_Step{Step: &ringtrainv1.StepProgress{Epoch: 1, Epochs: 2, Step: 5, Steps: 25, Loss: 0.6}}},
		{Job: at(func(j *ringtrainv1.Job) {
			j.Epoch, j.SavedEpoch, j.SavedTestAccuracy, j.BestTestAccuracy, j.BestTestEpoch = 1, 1, 0.75, 0.75, 1
		}),
			Event: &ringtrainv1.JobEvent_Epoch{Epoch: &ringtrainv1.EpochSummary{Epoch: 1, TrainLoss: 0.6, HasTest: true, TestAccuracy: 0.75,
				SamplesPerSec: 40000, ElapsedSeconds: 0.5, Best: true, Workers: 2}}},
		{Job: at(func(j *ringtrainv1.Job) { j.Epoch = 2 }),
			Event: &ringtrainv1.JobEvent_Epoch{Epoch: &ringtrainv1.EpochSummary{Epoch: 2, TrainLoss: 0.5, HasTest: true, TestAccuracy: 0.7,
				SamplesPerSec: 41000, ElapsedSeconds: 1, Workers: 2}}},
		{Job: at(func(j *ringtrainv1.Job) { proto.Merge(j, end) })},
	}
}

func TestWatch(t *testing.T) {
	ok := &ringtrainv1.Job{State: succeeded, Stopped: "completed", WallSeconds: 1.26}
	f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1"}}, events: watchEvents(ok)}
	addr := serve(t, f)
	out, err := runCLI(t, "watch", "xor-1", "--coordinator", addr)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	want := "" +
		"job xor-1 queued (needs 2 workers)\n" +
		"job xor-1 running: 0/2 epochs done\n" +
		"ring of 2 workers (generation 1): w1, w2\n" +
		"epoch 1/2  loss 0.6000  test 75.00%  40,000 samples/s  500ms  workers 2  *\n" +
		"epoch 2/2  loss 0.5000  test 70.00%  41,000 samples/s  1s\n" +
		"completed after 2 epochs in 1.3s\n" +
		"best test accuracy 75.00% (epoch 1)\n" +
		"saved model: epoch 1, test accuracy 75.00%\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestWatchJSON(t *testing.T) {
	f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1"}}, events: watchEvents(&ringtrainv1.Job{State: succeeded})}
	addr := serve(t, f)
	out, err := runCLI(t, "watch", "xor-1", "--coordinator", addr, "--output", "json")
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(f.events) {
		t.Fatalf("got %d lines want one per event (%d):\n%s", len(lines), len(f.events), out)
	}
	var events []map[string]any
	for i, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		events = append(events, ev)
	}
	checks := []struct {
		event         int
		object, field string
		want          any
	}{
		{0, "job", "state", "JOB_STATE_QUEUED"},
		{0, "job", "id", "xor-1"},
		{0, "job", "workers", 0.0},                     // zero values are written
		{0, "job", "created_unix_ms", "1740830400000"}, // proto names; int64 as a string
		{2, "job", "state", "JOB_STATE_RUNNING"},
		{4, "step", "steps", 25.0},
		{5, "epoch", "test_accuracy", 0.75},
		{5, "epoch", "has_val", false},
		{7, "job", "state", "JOB_STATE_SUCCEEDED"},
	}
	for _, c := range checks {
		obj, _ := events[c.event][c.object].(map[string]any)
		if got := obj[c.field]; got != c.want {
			t.Errorf("event %d: %s.%s: got %v (%T) want %v", c.event, c.object, c.field, got, got, c.want)
		}
	}
	if got, want := events[2]["message"], "ring of 2 workers (generation 1): w1, w2"; got != want {
		t.Errorf("event 2: message: got %v want %q", got, want)
	}
}

func TestWatchFails(t *testing.T) {
	events := watchEvents(&ringtrainv1.Job{State: succeeded})
	tests := []struct {
		args   []string
		events []*ringtrainv1.JobEvent
		want   string
	}{
		{[]string{"watch", "xor-1"}, events[:5], "job xor-1: watch ended before job finished"},
		{[]string{"watch", "xor-1"}, nil, "job xor-1: watch ended before job finished"},
		{[]string{"watch", "xor-1"}, watchEvents(&ringtrainv1.Job{State: failed, Error: "epoch 2 failed 3 times; giving up"}),
			"job xor-1 failed: epoch 2 failed 3 times; giving up"},
		{[]string{"watch", "xor-1", "-o", "json"}, watchEvents(&ringtrainv1.Job{State: cancelled, Stopped: "cancelled"}), "job xor-1 was cancelled"},
		{[]string{"watch", "xor-1"}, watchEvents(&ringtrainv1.Job{State: succeeded, TargetAccuracy: 0.8}),
			"job xor-1: test accuracy 75.00% is below training.target_accuracy 80.00%"},
		{[]string{"watch", "nope"}, events, "job nope not found"},
	}
	for i, tc := range tests {
		f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1"}}, events: tc.events}
		_, err := runCLI(t, append(tc.args, "--coordinator", serve(t, f))...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("test %d: %v: got error %v want %q", i, tc.args, err, tc.want)
		}
	}
}

// writeSpec writes a job spec for submit to read and returns its path.
func writeSpec(t *testing.T) (string, []byte) {
	t.Helper()
	spec := []byte("name: xor\ndataset: {name: xor}\n")
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, spec
}

func TestSubmit(t *testing.T) {
	path, spec := writeSpec(t)
	job := &ringtrainv1.Job{Id: "xor-1", Name: "xor", State: queued, Epochs: 2, MinWorkers: 3}
	tests := []struct {
		args  []string
		check func(out string) bool
	}{
		{[]string{"--min-workers", "3"}, func(out string) bool { return out == "xor-1\n" }},
		{[]string{"--min-workers", "3", "-o", "json"}, func(out string) bool {
			var j map[string]any
			return json.Unmarshal([]byte(out), &j) == nil && j["id"] == "xor-1" && j["state"] == "JOB_STATE_QUEUED" && j["min_workers"] == 3.0
		}},
		{[]string{"--min-workers", "3", "--watch"}, func(out string) bool {
			return strings.HasPrefix(out, "xor-1\njob xor-1 queued (needs 2 workers)\n") && strings.HasSuffix(out, "saved model: epoch 1, test accuracy 75.00%\n")
		}},
		{[]string{"--min-workers", "3", "--watch", "-o", "json"}, func(out string) bool {
			return strings.Count(out, "\n") == 8 && strings.HasPrefix(out, `{"job":`)
		}},
	}
	for i, tc := range tests {
		f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": job}, events: watchEvents(&ringtrainv1.Job{State: succeeded})}
		args := append([]string{"submit", "-f", path, "--coordinator", serve(t, f)}, tc.args...)
		out, err := runCLI(t, args...)
		if err != nil {
			t.Errorf("test %d: %v: %v", i, args, err)
			continue
		}
		if !tc.check(out) {
			t.Errorf("test %d: %v: unexpected output\n%s", i, args, out)
		}
		if got := f.lastSubmit(); got == nil || !bytes.Equal(got.GetSpec(), spec) || got.GetMinWorkers() != 3 {
			t.Errorf("test %d: coordinator got %v, want the file's bytes and min_workers 3", i, got)
		}
	}
}

func TestSubmitWatchTargetMissed(t *testing.T) {
	path, _ := writeSpec(t)
	f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1", State: queued}},
		events: watchEvents(&ringtrainv1.Job{State: succeeded, TargetAccuracy: 0.99})}
	out, err := runCLI(t, "submit", "-f", path, "--watch", "--coordinator", serve(t, f))
	want := "job xor-1: test accuracy 75.00% is below training.target_accuracy 99.00%"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v want %q", err, want)
	}
	if !strings.Contains(out, "saved model: epoch 1, test accuracy 75.00%") {
		t.Errorf("output has no summary:\n%s", out)
	}
}

func TestErrors(t *testing.T) {
	path, _ := writeSpec(t)
	dead := deadAddr(t)
	f := &fakeJobService{
		jobs:      map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1", State: running}},
		submitErr: status.Error(codes.InvalidArgument, "job spec: training.epochs: 0 must be at least 1"),
		workerErr: status.Error(codes.Unavailable, "etcd is down"),
	}
	live := serve(t, f)
	unreachable := "coordinator " + dead + " unreachable: "
	tests := []struct {
		args []string
		want string // the error starts with it
	}{
		{[]string{"submit", "-f", path, "--coordinator", live}, "submit " + path + ": job spec: training.epochs: 0 must be at least 1"},
		{[]string{"submit", "-f", path + ".missing", "--coordinator", live}, "read job spec: open " + path + ".missing: no such file"},
		{[]string{"status", "nope", "--coordinator", live}, "job nope not found"},
		{[]string{"cancel", "nope", "--coordinator", live}, "job nope not found"},
		{[]string{"model", "nope", "-o", filepath.Join(t.TempDir(), "m"), "--coordinator", live}, "job nope not found"},
		// A coordinator that answers UNAVAILABLE was reached.
		{[]string{"workers", "--coordinator", live}, "list workers: etcd is down"},
		{[]string{"jobs", "-o", "yaml", "--coordinator", live}, `--output: "yaml" is not text or json`},
		{[]string{"jobs", "--coordinator", dead}, "list jobs: " + unreachable},
		{[]string{"workers", "--coordinator", dead}, "list workers: " + unreachable},
		{[]string{"status", "xor-1", "--coordinator", dead}, "get job xor-1: " + unreachable},
		{[]string{"cancel", "xor-1", "--coordinator", dead}, "cancel job xor-1: " + unreachable},
		{[]string{"submit", "-f", path, "--coordinator", dead}, "submit " + path + ": " + unreachable},
		{[]string{"watch", "xor-1", "--coordinator", dead}, "watch job xor-1: " + unreachable},
		{[]string{"model", "xor-1", "-o", filepath.Join(t.TempDir(), "m"), "--coordinator", dead}, "download model of job xor-1: " + unreachable},
	}
	for i, tc := range tests {
		_, err := runCLI(t, tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("test %d: %v: got error %v want one starting %q", i, tc.args, err, tc.want)
		}
	}
}

func TestCoordinatorFromEnv(t *testing.T) {
	t.Setenv("RINGTRAIN_COORDINATOR", "")
	for _, cmd := range []*cobra.Command{newSubmitCmd(), newJobsCmd(), newStatusCmd(), newWatchCmd(), newCancelCmd(), newWorkersCmd(), newModelCmd()} {
		if got := cmd.Flags().Lookup("coordinator").DefValue; got != defaultCoordinator {
			t.Errorf("%s: --coordinator defaults to %q without $RINGTRAIN_COORDINATOR, want %q", cmd.Name(), got, defaultCoordinator)
		}
	}
	f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{}}
	t.Setenv("RINGTRAIN_COORDINATOR", serve(t, f))
	out, err := runCLI(t, "jobs")
	if err != nil || out != "no jobs\n" {
		t.Errorf("jobs with $RINGTRAIN_COORDINATOR: got %q, %v", out, err)
	}
}

func TestWatchInterrupted(t *testing.T) {
	f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1"}}, events: watchEvents(&ringtrainv1.Job{})[:3], holdWatch: make(chan struct{})}
	addr := serve(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() {
		<-f.holdWatch
		cancel() // as Ctrl-C does
	}()
	_, err := runCLIContext(ctx, "watch", "xor-1", "--coordinator", addr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 130 || !strings.HasPrefix(err.Error(), "interrupted; job xor-1 goes on") {
		t.Errorf("got error %v, want exit code 130 and the job going on", err)
	}
}

func TestListings(t *testing.T) {
	f := &fakeJobService{
		jobs:    map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1", Name: "xor", State: queued, Epochs: 5}, "xor-2": {Id: "xor-2", Name: "xor", State: succeeded, Epoch: 5, Epochs: 5}},
		workers: []*ringtrainv1.Worker{{Id: "w1", Addr: "10.0.0.1:7071"}, {Id: "worker-two", Addr: "10.0.0.2:7071"}},
	}
	addr := serve(t, f)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"workers"}, "ID          ADDR\nw1          10.0.0.1:7071\nworker-two  10.0.0.2:7071\n"},
		{[]string{"cancel", "xor-1"}, "job xor-1 cancelled\n"},
		{[]string{"cancel", "xor-2"}, "job xor-2 had already succeeded\n"},
	}
	for i, tc := range tests {
		out, err := runCLI(t, append(tc.args, "--coordinator", addr)...)
		if err != nil || out != tc.want {
			t.Errorf("test %d: %v: got %q, %v want %q", i, tc.args, out, err, tc.want)
		}
	}

	out, err := runCLI(t, "jobs", "--coordinator", addr)
	if err != nil || !strings.HasPrefix(out, "ID     NAME  STATE      EPOCH") || strings.Count(out, "\n") != 3 {
		t.Errorf("jobs: got %q, %v", out, err)
	}
	for _, args := range [][]string{{"jobs"}, {"workers"}, {"status", "xor-2"}} {
		out, err := runCLI(t, append(args, "--coordinator", addr, "-o", "json")...)
		var v map[string]any
		if err != nil || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("%v -o json: got %q, %v, want one line of JSON", args, out, err)
		}
	}
}

func TestModel(t *testing.T) {
	arch := nn.Architecture{Inputs: 2, Layers: []nn.Layer{{Units: 8, Activation: "tanh"}, {Units: 2, Activation: "softmax"}},
		Cost: "categorical_cross_entropy", Init: "he"}
	m := &checkpoint.Model[float32]{Arch: arch, Params: make([]float32, arch.NumParams()), Labels: []string{"0", "1"}}
	for i := range m.Params {
		m.Params[i] = float32(i) / 10
	}
	good, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	old := []byte("the previous model")
	tests := []struct {
		model []byte
		want  string // the error starts with it; "" for success
	}{
		{good, ""},
		{good[:len(good)-1], "job xor-1: downloaded model does not decode: "},
		{nil, "job xor-1: downloaded model does not decode: "},
	}
	for i, tc := range tests {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1", State: succeeded}}, model: tc.model}
		out, err := runCLI(t, "model", "xor-1", "-o", path, "--coordinator", serve(t, f))
		got, _ := os.ReadFile(path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test %d: %v", i, err)
		case tc.want == "" && !bytes.Equal(got, good):
			t.Errorf("test %d: file holds %d bytes, want the model's %d", i, len(got), len(good))
		case tc.want == "" && out != path+": "+progress.Count(float64(len(good)))+" bytes, network 2-8-2\n":
			t.Errorf("test %d: output %q", i, out)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("test %d: got error %v want one starting %q", i, err, tc.want)
		case tc.want != "" && !bytes.Equal(got, old):
			t.Errorf("test %d: a failed download changed the file to %q", i, got)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("test %d: directory holds %d entries, want only the model (no temp files)", i, len(entries))
		}
	}
}

// testModel is an encoded XOR-sized model.
func testModel(t *testing.T) []byte {
	t.Helper()
	arch := nn.Architecture{Inputs: 2, Layers: []nn.Layer{{Units: 8, Activation: "tanh"}, {Units: 2, Activation: "softmax"}},
		Cost: "categorical_cross_entropy", Init: "he"}
	m := &checkpoint.Model[float32]{Arch: arch, Params: make([]float32, arch.NumParams()), Labels: []string{"0", "1"}}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSaveRun covers how `run --workers N` ends once its job has: the
// model is downloaded only when the coordinator kept one, and the error is
// the job's own.
func TestSaveRun(t *testing.T) {
	good := testModel(t)
	old := []byte("an older run's model")
	noModel := status.Error(codes.FailedPrecondition, "job xor-1 has no model yet")
	tests := []struct {
		job         *ringtrainv1.Job
		interrupted bool
		want        string // the error; "" for success
		saved       bool   // the file holds the downloaded model, else the old one
	}{
		{&ringtrainv1.Job{State: succeeded, SavedEpoch: 2}, false, "", true},
		{&ringtrainv1.Job{State: succeeded, SavedEpoch: 2, TargetAccuracy: 0.9, SavedTestAccuracy: 0.5},
			false, "job xor-1: test accuracy 50.00% is below training.target_accuracy 90.00%", true},
		{&ringtrainv1.Job{State: failed, SavedEpoch: 2, Error: "epoch 3: training cannot continue (worker w1: diverged)"},
			false, "job xor-1 failed: epoch 3: training cannot continue (worker w1: diverged)", false},
		{&ringtrainv1.Job{State: cancelled, SavedEpoch: 2}, true, "interrupted; the model so far is saved to ", true},
		{&ringtrainv1.Job{State: cancelled}, true, "interrupted before an epoch completed; no model saved", false},
		{&ringtrainv1.Job{State: cancelled, SavedEpoch: 1}, false, "job xor-1 was cancelled", true},
	}
	for i, tc := range tests {
		tc.job.Id = "xor-1"
		f := &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": tc.job}, model: good}
		if !hasModel(tc.job) {
			f.modelErr = noModel // as the coordinator answers
		}
		conn, err := dial(serve(t, f), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		path := filepath.Join(t.TempDir(), "model.safetensors")
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		if tc.interrupted {
			cancel()
		}
		var out bytes.Buffer
		err = saveRun(ctx, ringtrainv1.NewJobServiceClient(conn), tc.job, path, progress.New(&out, false))
		cancel()
		var ee *exitError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test %d: %v", i, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("test %d: got error %v want one starting %q", i, err, tc.want)
		case tc.interrupted != (errors.As(err, &ee) && ee.code == 130):
			t.Errorf("test %d: got error %v, want exit code 130 only when interrupted", i, err)
		}
		got, _ := os.ReadFile(path)
		if want := map[bool][]byte{true: good, false: old}[tc.saved]; !bytes.Equal(got, want) {
			t.Errorf("test %d: file holds %q, want %q", i, got[:min(len(got), 20)], want[:20])
		}
		if said := strings.Contains(out.String(), "model saved to"); said != tc.saved {
			t.Errorf("test %d: output %q, want \"model saved to\" only when it was", i, out.String())
		}
	}
}

func TestJoinErr(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	tests := []struct {
		err, release error
		want         string
	}{
		{nil, nil, ""},
		{first, nil, "first"},
		{nil, second, "stop: second"},
		{first, second, "first\nstop: second"},
	}
	for i, tc := range tests {
		err := tc.err
		joinErr(&err, "stop", func() error { return tc.release })
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want || (tc.release != nil && !errors.Is(err, tc.release)) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("test %d: got %q want %q, wrapping both errors", i, got, tc.want)
		}
	}
}

// restartingJobs is a coordinator whose first watch stream sends the
// first events and then fails as a stopping server's does; later streams
// send the rest, as the coordinator that took over would.
type restartingJobs struct {
	*fakeJobService
	split   int
	watches atomic.Int32
}

func (r *restartingJobs) WatchJob(req *ringtrainv1.WatchJobRequest, stream ringtrainv1.JobService_WatchJobServer) error {
	events := r.events[r.split:]
	if r.watches.Add(1) == 1 {
		events = r.events[:r.split]
	}
	for _, ev := range events {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	if r.watches.Load() == 1 {
		return status.Error(codes.Unavailable, "transport is closing")
	}
	return nil
}

// TestWatchReconnects: a watch whose coordinator goes away says so,
// watches again, and ends with the job; one whose coordinator never
// answered fails at once (TestErrors).
func TestWatchReconnects(t *testing.T) {
	f := &restartingJobs{fakeJobService: &fakeJobService{jobs: map[string]*ringtrainv1.Job{"xor-1": {Id: "xor-1"}},
		events: watchEvents(&ringtrainv1.Job{State: succeeded})}, split: 5}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	ringtrainv1.RegisterJobServiceServer(s, f)
	go s.Serve(lis)
	defer s.Stop()
	out, err := runCLI(t, "watch", "xor-1", "--coordinator", lis.Addr().String())
	if err != nil {
		t.Fatalf("watch across a restart: %v\n%s", err, out)
	}
	if n := f.watches.Load(); n != 2 {
		t.Errorf("%d watch streams, want 2", n)
	}
	for _, want := range []string{"coordinator unavailable", "epoch 2/2", "saved model: epoch 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
