package etcdkeys

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for i, test := range []struct {
		id string
		ok bool
	}{
		{"w0", true},
		{"worker-1.host_a:7000", true},
		{"ünïcode", true},
		{strings.Repeat("x", 128), true},
		{"", false},
		{strings.Repeat("x", 129), false},
		{"a/b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00b", false},
	} {
		err := ValidID(test.id)
		if (err == nil) != test.ok || (err != nil && !errors.Is(err, ErrInvalidID)) {
			t.Errorf("test %d: ValidID(%q): got %v want ok=%t", i, test.id, err, test.ok)
		}
	}
}

func TestLayout(t *testing.T) {
	b := Barrier("j1", 3, 12)
	for i, test := range []struct{ got, want string }{
		{Worker("w0"), "/ringtrain/workers/w0"},
		{JobState("j1"), "/ringtrain/jobs/j1/state"},
		{Plan("j1", 7), "/ringtrain/jobs/j1/plan/0000000007"},
		{b, "/ringtrain/jobs/j1/barrier/0000000003/0000000012/"},
		{Arrival(b, PhaseEnter, "w0"), "/ringtrain/jobs/j1/barrier/0000000003/0000000012/enter/w0"},
		{Arrival(b, PhaseLeave, "w0"), "/ringtrain/jobs/j1/barrier/0000000003/0000000012/leave/w0"},
	} {
		if test.got != test.want {
			t.Errorf("test %d: got %q want %q", i, test.got, test.want)
		}
	}
	// Every key is under Root and its own prefix.
	for i, test := range []struct{ key, prefix string }{
		{Worker("w0"), WorkersPrefix},
		{JobState("j1"), Job("j1")},
		{Plan("j1", 7), PlanPrefix("j1")},
		{Arrival(b, PhaseEnter, "w0"), Arrivals(b, PhaseEnter)},
		{Job("j1"), JobsPrefix},
		{JobsPrefix, Root},
		{WorkersPrefix, Root},
	} {
		if !strings.HasPrefix(test.key, test.prefix) {
			t.Errorf("test %d: %q is not under %q", i, test.key, test.prefix)
		}
	}
}

func TestParse(t *testing.T) {
	b := Barrier("j1", 3, 0)
	if id, ok := WorkerID(Worker("w0")); !ok || id != "w0" {
		t.Errorf("WorkerID: got %q, %t want w0", id, ok)
	}
	if id, ok := ArrivalWorker(b, PhaseLeave, Arrival(b, PhaseLeave, "w0")); !ok || id != "w0" {
		t.Errorf("ArrivalWorker: got %q, %t want w0", id, ok)
	}
	if job, epoch, ok := ParsePlan(Plan("j1", 42)); !ok || job != "j1" || epoch != 42 {
		t.Errorf("ParsePlan: got %q, %d, %t want j1, 42", job, epoch, ok)
	}
	for i, key := range []string{
		WorkersPrefix,
		Worker("w0") + "/x",
		Arrival(b, PhaseEnter, "w0"),
		Arrival(Barrier("j1", 3, 1), PhaseLeave, "w0"),
		JobState("j1"),
	} {
		if id, ok := WorkerID(key); ok {
			t.Errorf("test %d: WorkerID(%q): got %q, want no ID", i, key, id)
		}
		if id, ok := ArrivalWorker(b, PhaseLeave, key); ok {
			t.Errorf("test %d: ArrivalWorker(%q): got %q, want no ID", i, key, id)
		}
		if _, _, ok := ParsePlan(key); ok {
			t.Errorf("test %d: ParsePlan(%q) accepted it", i, key)
		}
	}
	if _, _, ok := ParsePlan(PlanPrefix("j1") + "12"); ok {
		t.Error("ParsePlan accepted an epoch that is not ten digits")
	}
	if job, ok := ParseJobState(JobState("j1")); !ok || job != "j1" {
		t.Errorf("ParseJobState: got %q, %t want j1", job, ok)
	}
	for _, key := range []string{Plan("j1", 1), Worker("w0"), JobsPrefix + "a/b/state", JobsPrefix + "/state", Barrier("j1", 1, 2) + "state"} {
		if job, ok := ParseJobState(key); ok {
			t.Errorf("ParseJobState(%q): got %q, want no job", key, job)
		}
	}
}

// Keys sort as the numbers in them do: a range read returns plans in epoch
// order.
func TestPlansSortByEpoch(t *testing.T) {
	epochs := []int{0, 1, 9, 10, 99, 100, 12345}
	keys := make([]string, len(epochs))
	for i, e := range epochs {
		keys[i] = Plan("j", e)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("plan keys out of order: %q", keys)
	}
}

func TestNegativeEpochPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Plan with epoch -1 did not panic")
		}
	}()
	Plan("j", -1)
}

func TestCheckpointRequest(t *testing.T) {
	if job, ok := ParseCheckpointRequest(CheckpointRequest("j1")); !ok || job != "j1" {
		t.Errorf("ParseCheckpointRequest: got %q, %t want j1", job, ok)
	}
	for _, key := range []string{Plan("j1", 1), JobState("j1"), JobsPrefix + "a/b/checkpoint-request"} {
		if job, ok := ParseCheckpointRequest(key); ok {
			t.Errorf("ParseCheckpointRequest(%q): got %q, want no job", key, job)
		}
	}
	if _, _, ok := ParsePlan(CheckpointRequest("j1")); ok {
		t.Error("ParsePlan accepted a checkpoint request")
	}
	if e, sum, ok := ParseCheckpointWanted(CheckpointWanted(7, "abc")); !ok || e != 7 || sum != "abc" {
		t.Errorf("ParseCheckpointWanted: got %d %q %t", e, sum, ok)
	}
	for _, v := range []string{"", "7", "x abc", "0 abc", "7 "} {
		if _, _, ok := ParseCheckpointWanted(v); ok {
			t.Errorf("ParseCheckpointWanted(%q) accepted it", v)
		}
	}
}
