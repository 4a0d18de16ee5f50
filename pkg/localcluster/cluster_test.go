package localcluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/train"
	"github.com/ringtrain/ringtrain/pkg/worker"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func TestMain(m *testing.M) {
	if args := os.Getenv(workerProcessEnv); args != "" {
		os.Exit(runWorkerProcess(args))
	}
	if args := os.Getenv(coordinatorProcessEnv); args != "" {
		os.Exit(runCoordinatorProcess(args))
	}
	if args := os.Getenv(etcdProcessEnv); args != "" {
		os.Exit(runEtcdProcess(args))
	}
	goleak.VerifyTestMain(m,
		// The etcd client's and grpc's process-wide helpers outlive tests.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, workers int) *Cluster {
	t.Helper()
	return startOver(t, workers, worker.TCP)
}

// startOver starts a cluster whose workers' rings use transport.
func startOver(t *testing.T, workers int, transport worker.RingTransport) *Cluster {
	t.Helper()
	return startWith(t, Config{Workers: workers, RingTransport: transport})
}

// startWith starts a cluster of cfg, with the tests' directory, logger and
// short timeouts.
func startWith(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	cfg.Dir, cfg.Fast, cfg.Logger = t.TempDir(), true, quiet()
	cfg.RingTimeout, cfg.StallTimeout, cfg.WorkerTTL = 3*time.Second, 30*time.Second, 2*time.Second
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cluster close: %v", err)
		}
	})
	return c
}

// blobsJob is a small job whose every epoch takes a few milliseconds, with
// dropout so the per-sample randomness is exercised.
const blobsJob = `
name: blobs
dataset: {name: blobs, samples: 600, validation: 0.2}
model: {layers: [{units: 32, activation: relu, dropout: 0.2}, {units: 3, activation: softmax}], init: he}
training: {optimizer: {kind: momentum, learning_rate: 0.05}, schedule: {kind: cosine, warmup_epochs: 1}, batch_size: 50, epochs: EPOCHS, l2: 0.5, seed: 9}
`

func job(epochs string) []byte { return []byte(strings.Replace(blobsJob, "EPOCHS", epochs, 1)) }

// run submits spec and waits for the job's end, returning the last state
// and every event seen.
func run(t *testing.T, c *Cluster, spec []byte, minWorkers int32, during func(ev *ringtrainv1.JobEvent)) (*ringtrainv1.Job, []*ringtrainv1.JobEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jobs := ringtrainv1.NewJobServiceClient(c.Conn())
	j, err := jobs.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: minWorkers})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := jobs.WatchJob(ctx, &ringtrainv1.WatchJobRequest{JobId: j.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var events []*ringtrainv1.JobEvent
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		events = append(events, ev)
		if during != nil {
			during(ev)
		}
	}
	last := events[len(events)-1].GetJob()
	return last, events
}

func model(t *testing.T, c *Cluster, id string) *checkpoint.Model[float32] {
	t.Helper()
	return modelIn[float32](t, c, id)
}

// modelIn downloads job id's model and decodes it in precision T, after
// checking that T is the precision it was saved in.
func modelIn[T nn.Float](t *testing.T, c *Cluster, id string) *checkpoint.Model[T] {
	t.Helper()
	stream, err := ringtrainv1.NewJobServiceClient(c.Conn()).GetModel(context.Background(), &ringtrainv1.GetModelRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, ch.GetData()...)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := checkpoint.WriteFile(path, b); err != nil {
		t.Fatal(err)
	}
	want := map[bool]string{true: "float64", false: "float32"}[unsafe.Sizeof(T(0)) == 8]
	if got, err := checkpoint.FilePrecision(path); got != want || err != nil {
		t.Fatalf("model saved as %q (%v), want %s", got, err, want)
	}
	m, err := checkpoint.DecodeModel[T](b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJobTrainsAndModelEvaluatesAsReported(t *testing.T) {
	c := start(t, 2)
	last, events := run(t, c, job("6"), 2, nil)
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %s: %s", last.GetState(), last.GetError())
	}
	epochs := 0
	for _, ev := range events {
		if e := ev.GetEpoch(); e != nil {
			epochs++
			if e.GetWorkers() != 2 || !e.GetHasTest() {
				t.Errorf("epoch %d: workers %d, has test %v", e.GetEpoch(), e.GetWorkers(), e.GetHasTest())
			}
		}
	}
	if epochs != 6 || last.GetEpoch() != 6 {
		t.Errorf("saw %d epoch events, job says %d epochs; want 6", epochs, last.GetEpoch())
	}
	m := model(t, c, last.GetId())
	spec, err := jobspec.Parse(job("6"))
	if err != nil {
		t.Fatal(err)
	}
	sets, err := train.LoadData(spec)
	if err != nil {
		t.Fatal(err)
	}
	net := netOf(t, m)
	got := train.NewEvaluator(net, sets).Run(sets.Test).Accuracy
	if got != last.GetSavedTestAccuracy() {
		t.Errorf("downloaded model scores %.6f on the test set, the job reported %.6f", got, last.GetSavedTestAccuracy())
	}
	if got < 0.9 {
		t.Errorf("test accuracy %.3f, want >= 0.9 on blobs", got)
	}
}

// The same job with 1, 2 and 3 workers, and in one process, ends with the
// same parameters: the global batch's gradient does not depend on how it
// is split. The bound is float rounding: sums of the batch's parts in
// another order, compounded over the steps, so float64 must be far tighter.
// Each bound is about 10x the largest difference seen with either BLAS
// build (3.4e-6 and 8.9e-15): room for another CPU's kernels, not for a
// real change in the gradient.
func TestWorkerCountDoesNotChangeTheModel(t *testing.T) {
	t.Run("float32", func(t *testing.T) { sameModel[float32](t, 3e-5) })
	t.Run("float64", func(t *testing.T) { sameModel[float64](t, 1e-13) })
}

func sameModel[T nn.Float](t *testing.T, tolerance float64) {
	spec := job("3")
	if unsafe.Sizeof(T(0)) == 8 {
		spec = []byte(strings.Replace(string(spec), "seed: 9}", "seed: 9, precision: float64}", 1))
	}
	parsed, err := jobspec.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Output.Dir = t.TempDir()
	sets, err := train.LoadData(parsed)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Run[T](context.Background(), parsed, sets, nopObserver{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := checkpoint.LoadModel[T](res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	// The gRPC data plane must give the same bits as TCP: only the wires
	// differ.
	for _, tr := range []worker.RingTransport{worker.TCP, worker.GRPC} {
		for _, n := range []int{1, 2, 3} {
			if tr == worker.GRPC && n == 1 {
				continue // a ring of one sends nothing
			}
			c := startOver(t, n, tr)
			last, _ := run(t, c, spec, int32(n), nil)
			if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
				t.Fatalf("%d workers over %s: job ended %s: %s", n, tr, last.GetState(), last.GetError())
			}
			m := modelIn[T](t, c, last.GetId())
			d := maxRelDiff(m.Params, local.Params)
			t.Logf("%d workers over %s: max relative difference from the single-process run %.3g", n, tr, d)
			if d > tolerance {
				t.Errorf("%d workers over %s: parameters differ from the single-process run by %.2g (relative), want <= %g", n, tr, d, tolerance)
			}
			if last.GetSavedTestAccuracy() != res.SavedTest.Accuracy {
				t.Errorf("%d workers over %s: test accuracy %.4f, single process %.4f", n, tr, last.GetSavedTestAccuracy(), res.SavedTest.Accuracy)
			}
		}
	}
}

func maxRelDiff[T nn.Float](a, b []T) float64 {
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]-b[i])) / max(math.Abs(float64(b[i])), 1e-2)
		worst = max(worst, d)
	}
	return worst
}

type nopObserver struct{}

func (nopObserver) Step(train.StepProgress) {}
func (nopObserver) Epoch(train.EpochReport) {}

func TestWorkersJoinAndDie(t *testing.T) {
	c := start(t, 2)
	added, killed := false, false
	last, events := run(t, c, job("12"), 2, func(ev *ringtrainv1.JobEvent) {
		e := ev.GetEpoch()
		switch {
		case e != nil && e.GetEpoch() == 2 && !added:
			added = true
			if _, err := c.AddWorker(); err != nil {
				t.Error(err)
			}
		case e != nil && e.GetEpoch() == 6 && !killed:
			killed = true
			// Kill a worker as the next epoch starts, so it dies mid-epoch.
			go func() {
				time.Sleep(5 * time.Millisecond)
				if err := c.StopWorker("worker-1"); err != nil {
					t.Error(err)
				}
			}()
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %s: %s", last.GetState(), last.GetError())
	}
	sizes := map[int32]bool{}
	for _, ev := range events {
		if e := ev.GetEpoch(); e != nil {
			sizes[e.GetWorkers()] = true
		}
	}
	if !sizes[3] {
		t.Errorf("no epoch ran on 3 workers after one joined; ring sizes seen %v", sizes)
	}
	if !sizes[2] {
		t.Errorf("no epoch ran on 2 workers; ring sizes seen %v", sizes)
	}
	redone := false
	for _, ev := range events {
		if m := ev.GetMessage(); m != "" {
			t.Log(m)
			redone = redone || strings.Contains(m, "redoing it from the last checkpoint")
		}
	}
	if !redone {
		t.Error("the killed worker's epoch was not redone")
	}
	if last.GetEpoch() != 12 {
		t.Errorf("job completed %d epochs, want 12", last.GetEpoch())
	}
}

func TestCancelStopsWorkers(t *testing.T) {
	c := start(t, 2)
	jobs := ringtrainv1.NewJobServiceClient(c.Conn())
	cancelled := false
	last, _ := run(t, c, job("1000"), 2, func(ev *ringtrainv1.JobEvent) {
		if ev.GetEpoch().GetEpoch() == 2 && !cancelled {
			cancelled = true
			if _, err := jobs.CancelJob(context.Background(), &ringtrainv1.CancelJobRequest{JobId: ev.GetJob().GetId()}); err != nil {
				t.Error(err)
			}
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("job ended %s, want cancelled", last.GetState())
	}
	// The plan is withdrawn, so no worker may still be training: the etcd
	// keys of the job are gone.
	resp, err := c.Etcd().Get(context.Background(), "/ringtrain/jobs/"+last.GetId()+"/plan/", withPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Errorf("%d plans remain after cancel", len(resp.Kvs))
	}
	// A cancelled job keeps what it learned.
	if m := model(t, c, last.GetId()); len(m.Params) != m.Arch.NumParams() {
		t.Errorf("model of the cancelled job has %d params, want %d", len(m.Params), m.Arch.NumParams())
	}
}

func TestSubmitRejectsBadSpec(t *testing.T) {
	c := start(t, 0)
	jobs := ringtrainv1.NewJobServiceClient(c.Conn())
	_, err := jobs.SubmitJob(context.Background(), &ringtrainv1.SubmitJobRequest{Spec: []byte(strings.Replace(string(job("3")), "batch_size: 50", "batch_size: -1", 1))})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "training.batch_size") {
		t.Errorf("got %v, want InvalidArgument naming training.batch_size", err)
	}
	_, err = jobs.GetJob(context.Background(), &ringtrainv1.GetJobRequest{JobId: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown job: got %v, want NotFound", err)
	}
}

func TestDivergedJobFailsAtOnce(t *testing.T) {
	c := start(t, 2)
	spec := strings.Replace(string(job("5")), "learning_rate: 0.05", "learning_rate: 1e30", 1)
	last, events := run(t, c, []byte(spec), 2, nil)
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_FAILED || !strings.Contains(last.GetError(), "diverged") || !strings.Contains(last.GetError(), "step") {
		t.Fatalf("job ended %s with error %q; want FAILED naming the divergence and its step", last.GetState(), last.GetError())
	}
	for _, ev := range events {
		if strings.Contains(ev.GetMessage(), "redoing") {
			t.Errorf("a diverged epoch was redone: %s", ev.GetMessage())
		}
	}
}
