package etcdkeys

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Root is the prefix of every ringtrain key.
const Root = "/ringtrain/"

// WorkersPrefix is the prefix of the worker registrations.
const WorkersPrefix = Root + "workers/"

// CoordinatorElection is the prefix of the coordinators' leader election
// (etcd's concurrency.Election): the leader's key under it holds its
// address.
const CoordinatorElection = Root + "coordinator/leader/"

// JobsPrefix is the prefix of every job's keys.
const JobsPrefix = Root + "jobs/"

// ErrInvalidID is returned by ValidID.
var ErrInvalidID = errors.New("etcdkeys: invalid ID")

// maxIDLen keeps keys short; IDs are names, not data.
const maxIDLen = 128

// ValidID reports whether id can be a worker or job ID: 1 to 128 printable
// characters, none of them '/' or a space, since an ID is one segment of a
// key.
func ValidID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", ErrInvalidID, id, maxIDLen)
	}
	for _, r := range id {
		if r == '/' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%w %q: contains %q", ErrInvalidID, id, r)
		}
	}
	return nil
}

// Worker is the registration key of a worker.
func Worker(id string) string { return WorkersPrefix + id }

// WorkerID returns the worker ID a registration key names, and false if
// key is not a registration key.
func WorkerID(key string) (string, bool) {
	return lastSegment(key, WorkersPrefix)
}

// Job is the prefix of all of a job's keys: delete it to forget the job.
func Job(job string) string { return JobsPrefix + job + "/" }

// JobState is the key of a job's record: its Job message as protojson,
// from which a restarted coordinator resumes it.
func JobState(job string) string { return Job(job) + "state" }

// ParseJobState returns the job a record key names, and false if key is not
// a job's record key.
func ParseJobState(key string) (job string, ok bool) {
	rest, ok := strings.CutPrefix(key, JobsPrefix)
	if !ok {
		return "", false
	}
	job, ok = strings.CutSuffix(rest, "/state")
	return job, ok && ValidID(job) == nil
}

// PlanPrefix is the prefix of a job's epoch plans.
func PlanPrefix(job string) string { return Job(job) + "plan/" }

// Plan is the key of a job's plan for one epoch.
func Plan(job string, epoch int) string { return PlanPrefix(job) + number(epoch) }

// ParsePlan returns the job and epoch a plan key names, and false if key is
// not a plan key: a worker watching JobsPrefix finds the plans with it.
func ParsePlan(key string) (job string, epoch int, ok bool) {
	rest, ok := strings.CutPrefix(key, JobsPrefix)
	if !ok {
		return "", 0, false
	}
	job, rest, ok = strings.Cut(rest, "/plan/")
	if !ok || ValidID(job) != nil || len(rest) != digits {
		return "", 0, false
	}
	epoch, err := strconv.Atoi(rest)
	if err != nil || epoch < 0 {
		return "", 0, false
	}
	return job, epoch, true
}

// CheckpointRequest is the key under which a coordinator that restarted
// without a job's checkpoint file asks its workers for it; the value is
// CheckpointWanted's.
func CheckpointRequest(job string) string { return Job(job) + "checkpoint-request" }

// ParseCheckpointRequest returns the job a checkpoint request key names,
// and false if key is not one.
func ParseCheckpointRequest(key string) (job string, ok bool) {
	rest, ok := strings.CutPrefix(key, JobsPrefix)
	if !ok {
		return "", false
	}
	job, ok = strings.CutSuffix(rest, "/checkpoint-request")
	return job, ok && ValidID(job) == nil
}

// CheckpointWanted is the value of a checkpoint request: the checkpoint
// after epochs completed epochs whose state has checksum sum.
func CheckpointWanted(epochs int, sum string) string { return strconv.Itoa(epochs) + " " + sum }

// ParseCheckpointWanted parses CheckpointWanted's value.
func ParseCheckpointWanted(v string) (epochs int, sum string, ok bool) {
	e, sum, ok := strings.Cut(v, " ")
	if !ok || sum == "" {
		return 0, "", false
	}
	epochs, err := strconv.Atoi(e)
	return epochs, sum, err == nil && epochs > 0
}

// Barrier is the prefix of the barrier of one epoch of a job, for one
// generation of its ring.
func Barrier(job string, epoch int, generation uint64) string {
	return Job(job) + "barrier/" + number(epoch) + "/" + number(generation) + "/"
}

// Phase is one of the two phases of a barrier.
type Phase string

// The phases of a barrier: members enter before an epoch's first step and
// leave after its last.
const (
	PhaseEnter Phase = "enter"
	PhaseLeave Phase = "leave"
)

// Arrivals is the prefix of the arrival keys of one phase of a barrier.
func Arrivals(barrier string, phase Phase) string { return barrier + string(phase) + "/" }

// Arrival is the key a worker writes when it arrives at a phase of a
// barrier.
func Arrival(barrier string, phase Phase, worker string) string {
	return Arrivals(barrier, phase) + worker
}

// ArrivalWorker returns the worker an arrival key of the given barrier
// phase names, and false if key is not one.
func ArrivalWorker(barrier string, phase Phase, key string) (string, bool) {
	return lastSegment(key, Arrivals(barrier, phase))
}

// digits is the width of epochs and generations in keys.
const digits = 10

// number formats an epoch or generation; a negative one is a programming
// error.
func number[N int | uint64](n N) string {
	if n < 0 {
		panic(fmt.Sprintf("etcdkeys: negative epoch or generation %d", n))
	}
	return fmt.Sprintf("%0*d", digits, n)
}

// lastSegment returns what follows prefix in key if that is a single valid
// ID.
func lastSegment(key, prefix string) (string, bool) {
	id, ok := strings.CutPrefix(key, prefix)
	if !ok || ValidID(id) != nil {
		return "", false
	}
	return id, true
}
