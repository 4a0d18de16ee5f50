package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ringtrain/ringtrain/internal/epoch"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// TestAttemptHearsOnlyItsMembers: reports of the plan's generation from a
// worker outside the plan, and a completed epoch from a member other than
// rank 0, neither end the attempt nor evict anyone; rank 0's result does.
func TestAttemptHearsOnlyItsMembers(t *testing.T) {
	s := newTestServer(t, 1)
	s.cfg.StallTimeout = time.Minute
	ctx := t.Context()
	for _, id := range []string{"w0", "w1", "outsider"} {
		reg, err := membership.Register(ctx, s.cfg.Etcd, membership.Worker{ID: id, Addr: "127.0.0.1:1"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
	}
	j := testJob(t)
	plan := &epoch.Plan{Job: j.id, Generation: 7, Members: []epoch.Member{{ID: "w0"}, {ID: "w1"}}}
	res := func(worker string) *ringtrainv1.EpochResult {
		return &ringtrainv1.EpochResult{JobId: j.id, Generation: 7, WorkerId: worker}
	}
	for _, r := range []report{
		{generation: 7, worker: "outsider", result: res("outsider")},
		{generation: 7, worker: "w1", result: res("w1")},
		{generation: 7, worker: "outsider", err: "ring broke", culprit: "w0"},
		{generation: 7, worker: "w0", result: res("w0")},
	} {
		if err := j.deliver(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.attempt(ctx, j, plan)
	if err != nil {
		t.Fatal(err)
	}
	if got.worker != "w0" {
		t.Errorf("the attempt ended with %s's report, want rank 0's (w0)", got.worker)
	}
	workers, _, err := membership.List(ctx, s.cfg.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	if len(workers) != 3 {
		t.Errorf("%d workers registered, want all 3: an outsider's report evicted one", len(workers))
	}
}

// TestEtcdFailureCostsAnAttempt: when the workers cannot be listed or
// watched (as while etcd elects a leader; here a registration that does not
// decode), the epoch waits and tries again, up to MaxAttempts, rather than
// failing the job at once.
func TestEtcdFailureCostsAnAttempt(t *testing.T) {
	s := newTestServer(t, 1)
	s.cfg.StallTimeout, s.cfg.MaxAttempts = time.Minute, 2
	j := testJob(t)
	watch, _ := j.subscribe()
	if _, err := s.cfg.Etcd.Put(t.Context(), etcdkeys.Worker("w0"), "not json"); err != nil {
		t.Fatal(err)
	}
	s.runJob(t.Context(), j)
	got := j.snapshot()
	if got.GetState() != ringtrainv1.JobState_JOB_STATE_FAILED || !strings.Contains(got.GetError(), "failed 2 times") || !strings.Contains(got.GetError(), "decoding worker w0") {
		t.Errorf("job %v %q, want failed after 2 attempts, naming the last cause", got.GetState(), got.GetError())
	}
	retries := 0
	for ev := range watch {
		if strings.Contains(ev.GetMessage(), "trying again") {
			retries++
		}
	}
	if retries != 1 {
		t.Errorf("%d retry messages, want 1: the second attempt was the last", retries)
	}
}

// TestLostLeadershipLeavesJobsAlone: a coordinator whose writes are refused
// because another may lead stops leading; its job is left as it was, for
// the next leader, not failed attempt after attempt.
func TestLostLeadershipLeavesJobsAlone(t *testing.T) {
	s := newTestServer(t, 1)
	s.cfg.StallTimeout, s.cfg.MaxAttempts = time.Minute, 3
	reg, err := membership.Register(t.Context(), s.cfg.Etcd, membership.Worker{ID: "w0", Addr: "127.0.0.1:1"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s.fence = []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("no-such-election-key"), "=", 1)}
	s.abdicate = cancel
	j := testJob(t)
	s.runJob(ctx, j)
	if ctx.Err() == nil {
		t.Error("the coordinator still leads")
	}
	if got := j.snapshot(); got.GetState() != ringtrainv1.JobState_JOB_STATE_RUNNING {
		t.Errorf("job %v %q, want it left running for the next leader", got.GetState(), got.GetError())
	}
}
