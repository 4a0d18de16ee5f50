package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ringtrain/ringtrain/internal/coordconn"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// outcome is what a run of a job ends with: its last checkpoint, the model
// it saved and the epoch that model is from.
type outcome struct {
	ckpt  *checkpoint.Checkpoint[float32]
	model *checkpoint.Model[float32]
	saved int32
}

// outcomeIn reads the outcome of job pb, which has succeeded, from a
// coordinator's data directory.
func outcomeIn(t *testing.T, dataDir string, pb *ringtrainv1.Job) *outcome {
	t.Helper()
	dir := filepath.Join(dataDir, "jobs", pb.GetId())
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.DecodeCheckpoint[float32](b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := checkpoint.LoadModel[float32](filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return &outcome{ckpt: ck, model: m, saved: pb.GetSavedEpoch()}
}

// differs returns how far got's parameters are from o's (relative), and
// fails t if got saved its model from another epoch, or a model that
// differs by more than tol.
func (o *outcome) differs(t *testing.T, got *outcome, tol float64) float64 {
	t.Helper()
	if got.saved != o.saved {
		t.Errorf("the job saved the model of epoch %d, the undisturbed run that of epoch %d", got.saved, o.saved)
	}
	if d := maxRelDiff(got.model.Params, o.model.Params); d > tol {
		t.Errorf("the job's saved model differs from the undisturbed run's by %g (relative)", d)
	}
	d := maxRelDiff(got.ckpt.Params, o.ckpt.Params)
	if d > tol {
		t.Errorf("the job's parameters differ from the undisturbed run's by %g (relative)", d)
	}
	return d
}

// undisturbed trains spec on a new cluster of workers and returns what it
// ends with: what a disturbed run of it must end with too.
func undisturbed(t *testing.T, spec []byte, workers int) *outcome {
	t.Helper()
	c := start(t, workers)
	last, _ := run(t, c, spec, int32(workers), nil)
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("undisturbed job ended %s: %s", last.GetState(), last.GetError())
	}
	o := outcomeIn(t, filepath.Join(c.cfg.Dir, "coordinator"), last)
	t.Logf("undisturbed: the model of epoch %d of %d", o.saved, last.GetEpoch())
	return o
}

// freeAddr returns a loopback address that was free a moment ago, for a
// process to listen on (again, after a restart).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// untilEpoch watches job id until its epoch-th epoch is reported.
func untilEpoch(ctx context.Context, t *testing.T, jobs ringtrainv1.JobServiceClient, id string, epoch int32) {
	t.Helper()
	stream, err := jobs.WatchJob(ctx, &ringtrainv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch ended before epoch %d: %v", epoch, err)
		}
		if ev.GetEpoch().GetEpoch() == epoch {
			return
		}
	}
}

// untilSucceeded polls job id, through whichever coordinator answers, until
// it ends, and fails the test unless it succeeded with the checkpoint after
// all its epochs. after names the disturbance, for the failure.
func untilSucceeded(ctx context.Context, t *testing.T, jobs ringtrainv1.JobServiceClient, id string, epochs int32, after string) *ringtrainv1.Job {
	t.Helper()
	var last *ringtrainv1.Job
	for last == nil || !final(last.GetState()) {
		time.Sleep(50 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatalf("the job did not end after %s; last seen %v", after, last)
		}
		if got, err := jobs.GetJob(ctx, &ringtrainv1.GetJobRequest{JobId: id}); err == nil {
			last = got
		}
	}
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED || last.GetCheckpointEpoch() != epochs {
		t.Fatalf("after %s the job ended %s with the checkpoint after epoch %d: %s", after, last.GetState(), last.GetCheckpointEpoch(), last.GetError())
	}
	return last
}

// TestCoordinatorRestartResumesJob restarts the coordinator while a job
// runs: the new one finds the job's record in etcd and its checkpoint on
// disk, the workers (which keep running) take its plans, and the job ends
// with the parameters of a run that was left alone. Restarted without the
// checkpoint file, it takes the state from a worker, verified against the
// checksum the record keeps, with the same end.
func TestCoordinatorRestartResumesJob(t *testing.T) {
	spec := []byte(strings.Replace(string(job("12")), "samples: 600", "samples: 6000", 1))
	want := undisturbed(t, spec, 2)
	for _, tc := range []struct {
		name         string
		loseCkptFile bool
	}{
		{"with its data directory", false},
		{"without the checkpoint file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			jobs := ringtrainv1.NewJobServiceClient(c.Conn())
			j, err := jobs.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: 2})
			if err != nil {
				t.Fatal(err)
			}
			untilEpoch(ctx, t, jobs, j.GetId(), 3)
			rec, err := c.Etcd().Get(ctx, etcdkeys.JobState(j.GetId()))
			if err != nil {
				t.Fatal(err)
			}
			var between func()
			if tc.loseCkptFile {
				between = func() {
					if err := os.Remove(filepath.Join(c.cfg.Dir, "coordinator", "jobs", j.GetId(), "checkpoint.safetensors")); err != nil {
						t.Error(err)
					}
				}
			}
			if err := c.RestartCoordinator(between); err != nil {
				t.Fatal(err)
			}
			last := untilSucceeded(ctx, t, jobs, j.GetId(), 12, "the restart")
			// The records written since the restart: a job run again from
			// the start would record epochs before the one it stopped at.
			resumed := recordedEpochs(ctx, t, c, j.GetId(), rec.Header.Revision+1)
			t.Logf("checkpoint epochs recorded since the restart: %v", resumed)
			if len(resumed) == 0 || resumed[0] < 3 || !slices.IsSorted(resumed) {
				t.Errorf("after the restart at epoch 3 the job recorded checkpoints after epochs %v: it did not resume", resumed)
			}
			got := outcomeIn(t, filepath.Join(c.cfg.Dir, "coordinator"), last)
			if got.ckpt.Epoch != 12 {
				t.Errorf("last checkpoint after %d epochs, want 12", got.ckpt.Epoch)
			}
			want.differs(t, got, 1e-4)
			// Its history has every epoch once, the ones before the
			// restart included.
			checkHistory(ctx, t, jobs, j.GetId(), 12)
		})
	}
}

// checkHistory checks that job id's history has epochs 1 to n, once each,
// in order, each with its ring's workers and at least one attempt.
func checkHistory(ctx context.Context, t *testing.T, jobs ringtrainv1.JobServiceClient, id string, n int) {
	t.Helper()
	resp, err := jobs.GetJobHistory(ctx, &ringtrainv1.GetJobHistoryRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	var h train.History
	if err := json.Unmarshal(resp.GetJson(), &h); err != nil {
		t.Fatal(err)
	}
	var epochs []int
	for _, r := range h.Epochs {
		epochs = append(epochs, r.Epoch)
		if r.Workers < 1 || r.Attempts < 1 || r.Val == nil || r.LearningRate <= 0 {
			t.Errorf("history of epoch %d: %+v", r.Epoch, r)
		}
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if h.Task != train.TaskClassification || !slices.Equal(epochs, want) {
		t.Errorf("history of %s: task %q, epochs %v, want classification and 1..%d", id, h.Task, epochs, n)
	}
}

// recordedEpochs returns the checkpoint epochs of job id's records in etcd
// from revision rev on, until its final record.
func recordedEpochs(ctx context.Context, t *testing.T, c *Cluster, id string, rev int64) []int32 {
	t.Helper()
	var epochs []int32
	for wr := range c.Etcd().Watch(ctx, etcdkeys.JobState(id), clientv3.WithRev(rev)) {
		if err := wr.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				continue // an ended job's keys are cleared before its final record
			}
			pb := &ringtrainv1.Job{}
			if err := protojson.Unmarshal(ev.Kv.Value, pb); err != nil {
				t.Fatalf("job record: %v", err)
			}
			if n := len(epochs); n == 0 || epochs[n-1] != pb.GetCheckpointEpoch() {
				epochs = append(epochs, pb.GetCheckpointEpoch())
			}
			if final(pb.GetState()) {
				return epochs
			}
		}
	}
	t.Fatalf("watch of job %s records ended: %v", id, ctx.Err())
	return nil
}

func final(s ringtrainv1.JobState) bool {
	return s == ringtrainv1.JobState_JOB_STATE_SUCCEEDED || s == ringtrainv1.JobState_JOB_STATE_FAILED || s == ringtrainv1.JobState_JOB_STATE_CANCELLED
}

// TestCoordinatorProcessKilled SIGKILLs a coordinator process at epoch 3 of
// 12 (etcd and two worker processes go on) and starts another with the
// same etcd and data directory: it resumes the job, the workers take its
// plans without a restart, and the job ends with the parameters of an
// undisturbed run.
func TestCoordinatorProcessKilled(t *testing.T) {
	spec := []byte(strings.Replace(string(job("12")), "samples: 600", "samples: 6000", 1))
	want := undisturbed(t, spec, 2)

	endpoints := etcdtest.Start(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	coordEnv := fmt.Sprintf("%s=%s %s %s", coordinatorProcessEnv, addr, strings.Join(endpoints, ","), dataDir)
	first := startProcess(t, coordEnv)
	startWorkerProcess(t, addr, endpoints, "proc-1", 10*time.Second, 1)
	startWorkerProcess(t, addr, endpoints, "proc-2", 10*time.Second, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jobs := ringtrainv1.NewJobServiceClient(conn)
	j, err := jobs.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: 2}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	untilEpoch(ctx, t, jobs, j.GetId(), 3)
	first.signal(t, syscall.SIGKILL)
	<-first.exited
	startProcess(t, coordEnv)

	last := untilSucceeded(ctx, t, jobs, j.GetId(), 12, "the coordinator was killed")
	want.differs(t, outcomeIn(t, dataDir, last), 1e-4)
}

// TestStandbyTakesOver runs two coordinator processes against one etcd and
// one data directory, and two worker processes given both addresses. The
// first leads; SIGKILLed at epoch 3 of 12, the standby takes over within
// its leadership lease, resumes the job, and the job ends with the
// parameters of an undisturbed run. The client follows the leader too.
func TestStandbyTakesOver(t *testing.T) {
	spec := []byte(strings.Replace(string(job("12")), "samples: 600", "samples: 6000", 1))
	want := undisturbed(t, spec, 2)

	endpoints := etcdtest.Start(t)
	cli := etcdtest.Client(t, endpoints)
	dataDir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t)}
	coordEnv := func(addr string) string {
		return fmt.Sprintf("%s=%s %s %s", coordinatorProcessEnv, addr, strings.Join(endpoints, ","), dataDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := func() string {
		t.Helper()
		for ctx.Err() == nil {
			resp, err := cli.Get(ctx, etcdkeys.CoordinatorElection, clientv3.WithFirstCreate()...)
			if err == nil && len(resp.Kvs) > 0 {
				return string(resp.Kvs[0].Value)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no coordinator leads")
		return ""
	}
	first := startProcess(t, coordEnv(addrs[0]))
	if got := leader(); got != addrs[0] {
		t.Fatalf("leader %s, want the first coordinator, %s", got, addrs[0])
	}
	startProcess(t, coordEnv(addrs[1]))
	both := strings.Join(addrs, ",")
	startWorkerProcess(t, both, endpoints, "proc-1", 10*time.Second, 1)
	startWorkerProcess(t, both, endpoints, "proc-2", 10*time.Second, 2)

	conn, err := coordconn.Dial(both, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jobs := ringtrainv1.NewJobServiceClient(conn)
	j, err := jobs.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: 2}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	untilEpoch(ctx, t, jobs, j.GetId(), 3)
	first.signal(t, syscall.SIGKILL)
	killed := time.Now()
	<-first.exited
	for leader() != addrs[1] {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the standby led %v after the kill", time.Since(killed).Round(time.Millisecond))

	last := untilSucceeded(ctx, t, jobs, j.GetId(), 12, "the leader was killed")
	want.differs(t, outcomeIn(t, dataDir, last), 1e-4)
}
