package coordinator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// TestRecover reads back the records a coordinator before left: ended jobs
// are listed as they ended, queued and running ones are queued again
// (oldest first), one whose checkpoint or spec is gone is listed as failed
// with its cause, and stale plans are cleared.
func TestRecover(t *testing.T) {
	s := newTestServer(t, 8)
	ctx := context.Background()
	put := func(pb *ringtrainv1.Job, spec bool) {
		t.Helper()
		if spec {
			dir := filepath.Join(s.cfg.DataDir, "jobs", pb.GetId())
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(xorSpec), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := protojson.Marshal(pb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.cfg.Etcd.Put(ctx, etcdkeys.JobState(pb.GetId()), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	const (
		queued, running, done = ringtrainv1.JobState_JOB_STATE_QUEUED, ringtrainv1.JobState_JOB_STATE_RUNNING, ringtrainv1.JobState_JOB_STATE_SUCCEEDED
		failed                = ringtrainv1.JobState_JOB_STATE_FAILED
	)
	put(&ringtrainv1.Job{Id: "ended", State: done, Epoch: 3, CreatedUnixMs: 1}, true)
	// An ended job whose spec is gone keeps its state and its model.
	put(&ringtrainv1.Job{Id: "ended-no-spec", State: done, Epoch: 3, CreatedUnixMs: 2}, false)
	if err := os.MkdirAll(filepath.Join(s.cfg.DataDir, "jobs", "ended-no-spec"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.cfg.DataDir, "jobs", "ended-no-spec", "model.safetensors"), []byte("model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&train.History{Name: "xor", Task: train.TaskClassification, Epochs: []train.HistoryRow{{Epoch: 1}, {Epoch: 2}, {Epoch: 3}}}).Save(filepath.Join(s.cfg.DataDir, "jobs", "ended-no-spec")); err != nil {
		t.Fatal(err)
	}
	put(&ringtrainv1.Job{Id: "later", State: queued, CreatedUnixMs: 30}, true)
	put(&ringtrainv1.Job{Id: "earlier", State: running, CreatedUnixMs: 20}, true)
	put(&ringtrainv1.Job{Id: "no-spec", State: running, CreatedUnixMs: 10}, false)
	put(&ringtrainv1.Job{Id: "no-checkpoint", State: running, CheckpointEpoch: 2, CreatedUnixMs: 5}, true)
	if _, err := s.cfg.Etcd.Put(ctx, etcdkeys.Plan("earlier", 1), "{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cfg.Etcd.Put(ctx, etcdkeys.JobState("junk"), "not json"); err != nil {
		t.Fatal(err)
	}

	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		id    string
		state ringtrainv1.JobState
		error string
	}{
		{"ended", done, ""},
		{"ended-no-spec", done, ""},
		{"later", queued, ""},
		{"earlier", queued, ""},
		{"no-spec", failed, "cannot resume"},
		{"no-checkpoint", failed, "checkpoint after epoch 2"},
	} {
		j, err := s.job(want.id)
		if err != nil {
			t.Errorf("%s: %v", want.id, err)
			continue
		}
		got := j.snapshot()
		if got.GetState() != want.state || !strings.Contains(got.GetError(), want.error) {
			t.Errorf("%s: %s %q, want %s with an error naming %q", want.id, got.GetState(), got.GetError(), want.state, want.error)
		}
	}
	if j, err := s.job("ended-no-spec"); err != nil {
		t.Error(err)
	} else if j.model == "" || j.history == nil || len(j.history.Epochs) != 3 {
		t.Errorf("an ended job without its spec: model %q, history %v; want both kept", j.model, j.history)
	}
	if _, err := s.job("junk"); err == nil {
		t.Error("an unreadable record became a job")
	}
	var order []string
	for j := s.next(); j != nil; j = s.next() {
		order = append(order, j.id)
	}
	if strings.Join(order, ",") != "earlier,later" {
		t.Errorf("queued again: %v, want earlier,later", order)
	}
	if resp, err := s.cfg.Etcd.Get(ctx, etcdkeys.Plan("earlier", 1)); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("stale plan of a resumed job: %v, %d keys left", err, len(resp.Kvs))
	}
}

// TestRecoverMoreThanSubmissionsQueue: the running job is not in the queue,
// so more jobs can be unfinished than a submission may queue behind; a
// coordinator resumes them all rather than refuse to lead.
func TestRecoverMoreThanSubmissionsQueue(t *testing.T) {
	s := newTestServer(t, 1)
	ctx := context.Background()
	ids := []string{"a", "b", "c"}
	for i, id := range ids {
		dir := filepath.Join(s.cfg.DataDir, "jobs", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(xorSpec), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := protojson.Marshal(&ringtrainv1.Job{Id: id, State: ringtrainv1.JobState_JOB_STATE_QUEUED, CreatedUnixMs: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.cfg.Etcd.Put(ctx, etcdkeys.JobState(id), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	var order []string
	for j := s.next(); j != nil; j = s.next() {
		order = append(order, j.id)
	}
	if got := strings.Join(order, ","); got != "a,b,c" {
		t.Errorf("queued %s, want a,b,c", got)
	}
}

// TestWritesFencedByLeadership: a coordinator's writes to etcd hold only
// while its election key is its own; once its lease is gone (revoked here,
// as when it lapses) they change nothing and say why.
func TestWritesFencedByLeadership(t *testing.T) {
	s := newTestServer(t, 4)
	ctx := t.Context()
	sess, err := concurrency.NewSession(s.cfg.Etcd, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, etcdkeys.CoordinatorElection)
	if err := el.Campaign(ctx, "me"); err != nil {
		t.Fatal(err)
	}
	s.fence = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", el.Rev())}
	j := testJob(t)
	if err := s.recordState(ctx, j); err != nil {
		t.Fatalf("while leading: %v", err)
	}
	if _, err := s.cfg.Etcd.Revoke(ctx, sess.Lease()); err != nil {
		t.Fatal(err)
	}
	j.update(func(pb *ringtrainv1.Job) { pb.State = ringtrainv1.JobState_JOB_STATE_FAILED }, nil)
	if err := s.recordState(ctx, j); !errors.Is(err, errNotLeader) {
		t.Fatalf("after the lease went: got %v, want errNotLeader", err)
	}
	resp, err := s.cfg.Etcd.Get(ctx, etcdkeys.JobState(j.id))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("record: %v, %d keys", err, len(resp.Kvs))
	}
	var pb ringtrainv1.Job
	if err := protojson.Unmarshal(resp.Kvs[0].Value, &pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetState() != ringtrainv1.JobState_JOB_STATE_QUEUED {
		t.Errorf("the record says %v: a write after the lease went changed it", pb.GetState())
	}
	if _, err := s.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: []byte(xorSpec)}); status.Code(err) != codes.Unavailable {
		t.Errorf("submitting to a coordinator that no longer leads: got %v, want Unavailable", err)
	}
}
