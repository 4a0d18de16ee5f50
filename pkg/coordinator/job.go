package coordinator

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/pkg/jobspec"
	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// job is one submitted job. Its fields are guarded by mu.
type job struct {
	id   string
	spec *jobspec.Spec
	yaml []byte
	dir  string

	mu      sync.Mutex
	pb      *ringtrainv1.Job
	dataset [][]byte // encoded training set, in parts, once loaded
	dataSum string   // hex SHA-256 of dataset
	resume  []byte   // the checkpoint a restarted coordinator found, to resume from
	// wanted is the checkpoint a restarted coordinator did not find: a
	// worker that holds its state provides it (ProvideCheckpoint).
	wanted   *wantedCheckpoint
	ckpt     []byte // the latest checkpoint
	ckptEp   int    // epochs completed in ckpt
	model    string // path of the saved model, once written
	history  *train.History
	subs     map[chan *ringtrainv1.JobEvent]struct{}
	cancel   context.CancelFunc
	canceled bool

	// reports carries workers' epoch outcomes to the job's run loop.
	reports chan report
}

// wantedCheckpoint is a checkpoint to take from the workers: the one after
// epochs completed epochs, of state checksum sum; what they provide goes to
// provided.
type wantedCheckpoint struct {
	epochs   int
	sum      string
	provided chan []byte
}

// report is a worker's word on one epoch attempt.
type report struct {
	generation uint64
	worker     string
	result     *ringtrainv1.EpochResult // nil on failure
	checkpoint []byte
	err        string
	culprit    string                    // the worker a failure names as its cause
	cause      ringtrainv1.FailureCause  // the kind of failure
	progress   *ringtrainv1.StepProgress // a progress report, not an outcome
}

func newJob(id string, spec *jobspec.Spec, yaml []byte, dir string, minWorkers int32, created int64) *job {
	return &job{
		id: id, spec: spec, yaml: yaml, dir: dir,
		pb: &ringtrainv1.Job{
			Id: id, Name: spec.Name, State: ringtrainv1.JobState_JOB_STATE_QUEUED,
			Epochs: int32(spec.Training.Epochs), CreatedUnixMs: created,
			TargetAccuracy: spec.Training.TargetAccuracy, MinWorkers: minWorkers,
		},
		subs:    map[chan *ringtrainv1.JobEvent]struct{}{},
		reports: make(chan report, 64),
		history: &train.History{Name: spec.Name}, // its task once the data is loaded
	}
}

// recordEpoch adds er to the job's history and saves it in the job's
// directory, as history.csv and history.json.
func (j *job) recordEpoch(er *train.EpochReport) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.history.Epochs = append(j.history.Epochs, train.Row(er))
	return j.history.Save(j.dir)
}

// snapshot returns a copy of the job's state.
func (j *job) snapshot() *ringtrainv1.Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return proto.Clone(j.pb).(*ringtrainv1.Job)
}

func final(s ringtrainv1.JobState) bool {
	return s == ringtrainv1.JobState_JOB_STATE_SUCCEEDED || s == ringtrainv1.JobState_JOB_STATE_FAILED || s == ringtrainv1.JobState_JOB_STATE_CANCELLED
}

// update changes the job's state under its lock and tells watchers, with
// ev (which may be nil) as the event. A job that has ended stays as it
// ended: a cancel that lands while runJob is starting the job must not be
// overwritten by RUNNING, and its watchers are already gone.
func (j *job) update(change func(pb *ringtrainv1.Job), ev *ringtrainv1.JobEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if final(j.pb.State) {
		return
	}
	if change != nil {
		change(j.pb)
	}
	if ev == nil {
		ev = &ringtrainv1.JobEvent{}
	}
	ev.Job = proto.Clone(j.pb).(*ringtrainv1.Job)
	for ch := range j.subs {
		select {
		case ch <- ev:
		default:
			// A watcher that cannot keep up loses step events; anything
			// else closes its stream so it knows it missed something.
			if ev.GetStep() == nil {
				delete(j.subs, ch)
				close(ch)
			}
		}
	}
	if final(j.pb.State) {
		for ch := range j.subs {
			delete(j.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns a channel of the job's events, closed when the job
// ends, and the job's state at the time of subscribing.
func (j *job) subscribe() (chan *ringtrainv1.JobEvent, *ringtrainv1.Job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ch := make(chan *ringtrainv1.JobEvent, 256)
	if !final(j.pb.State) {
		j.subs[ch] = struct{}{}
	} else {
		close(ch)
	}
	return ch, proto.Clone(j.pb).(*ringtrainv1.Job)
}

func (j *job) unsubscribe(ch chan *ringtrainv1.JobEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.subs[ch]; ok {
		delete(j.subs, ch)
		close(ch)
	}
}

// deliver hands a worker's report to the run loop. Progress reports are
// dropped when the loop is behind; outcomes wait for room.
func (j *job) deliver(ctx context.Context, r report) error {
	if r.progress != nil {
		select {
		case j.reports <- r:
		default:
		}
		return nil
	}
	select {
	case j.reports <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
