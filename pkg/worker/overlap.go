package worker

import (
	"errors"
	"time"

	"github.com/ringtrain/ringtrain/pkg/data"
	"github.com/ringtrain/ringtrain/pkg/nn"
)

// DefaultBucketBytes is the Config.BucketBytes to use unless told
// otherwise: the default of the flags that set it.
//
// Buckets are cut only at layer boundaries, and every bucket is a ring
// call of its own, which costs 2(N−1) message latencies whatever its size.
// Overlap pays where a bucket's transfer is long against that: on two
// cores, 2 workers, it saved 2.5% of the steps' time for 784-1024-1024-10
// (buckets of 4.2 and 3.2 MB) and cost 20% for 784-256-128-10 cut at
// 128 KiB (137 KB, then 0.8 MB), whose first layer, the bulk of its
// gradient, is computed last and has nothing left to overlap with
// (BenchmarkOverlap). 1 MiB leaves gradients of about a megabyte in one
// call and splits the larger ones. PyTorch DDP's 25 MB suits models of
// 100 MB and more.
const DefaultBucketBytes = 1 << 20

// BucketFlag turns the value of a --bucket-bytes flag, where 0 or less
// means one all-reduce after backward, into Config.BucketBytes.
func BucketFlag(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// span is the range [lo, hi) of a replica's all-reduce buffer.
type span struct{ lo, hi int }

// planBuckets cuts the all-reduce buffer of a network whose layers start at
// offsets (nn.Architecture.ParamOffsets: the last is the parameter count)
// into the ring calls of a step, in call order: contiguous ranges from the
// end of the buffer backwards, the order backward finishes layers in, cut
// only at layer boundaries, each of at least bucketBytes but the last,
// which takes what is left. The first also holds the loss, the buffer's
// last element. bucketBytes <= 0 gives one bucket, the whole buffer.
//
// The plan depends only on the architecture, the element size and
// bucketBytes, so every member of a ring makes the same calls.
func planBuckets(offsets []int, elemBytes, bucketBytes int) []span {
	end := offsets[len(offsets)-1] + 1
	if bucketBytes <= 0 {
		return []span{{0, end}}
	}
	least := (bucketBytes + elemBytes - 1) / elemBytes
	var plan []span
	hi := end
	for i := len(offsets) - 2; i >= 0; i-- {
		if lo := offsets[i]; hi-lo >= least || lo == 0 {
			plan = append(plan, span{lo, hi})
			hi = lo
		}
	}
	return plan
}

// gradienter computes a step's gradient into the all-reduce buffer; it is
// the part of train.Replica a reducer drives.
type gradienter interface {
	Gradients(ds *data.Dataset, idx []int, epoch int) float64
	GradientsByLayer(ds *data.Dataset, idx []int, epoch int, sink nn.LayerSink) float64
}

// reducer runs an epoch's steps of gradient and all-reduce for one replica.
type reducer interface {
	// reduce computes the mean gradient and loss of the samples idx of ds
	// into the replica's buffer and averages the buffer over the ring,
	// this member weighing len(idx); it returns the mean loss. After an
	// error the buffer is undefined.
	// st says how the step's time went.
	reduce(ds *data.Dataset, idx []int, epoch int, st *stepTimes) (loss float64, err error)
	// close ends the reducer's goroutine, if it has one, and waits for it.
	close()
}

// bucketReducer is a reducer. With one bucket it computes the gradient and
// then all-reduces the whole buffer. With more it all-reduces each bucket
// on a goroutine of its own as soon as backward has finished the bucket's
// layers, while backward goes on with the layers below.
type bucketReducer[T nn.Float] struct {
	rep   gradienter // writes its gradient into buf
	buf   []T        // the gradient, then the loss
	plan  []span
	call  func(b []T, weight float64) error // one call on the epoch's ring
	calls time.Duration                     // in calls, this step; written by the goroutine if there is one

	// Only with more than one bucket:
	weight  float64    // the step's; written before the step's first ready
	ready   chan int   // the start of each layer backward finishes
	results chan error // one per step, after its last call
	stop    chan struct{}
	done    chan struct{} // closed as the goroutine ends
}

// newBucketReducer returns a reducer of buf, which rep fills with the
// gradient of a network of the given number of layers, by plan's calls of
// call (an all-reduce on the epoch's ring: calls are made one at a time,
// in order), and starts its goroutine when plan has more than one bucket.
func newBucketReducer[T nn.Float](call func(b []T, weight float64) error, rep gradienter, buf []T, layers int, plan []span) *bucketReducer[T] {
	r := &bucketReducer[T]{rep: rep, buf: buf, plan: plan, call: call}
	if len(plan) > 1 {
		// A whole step's notifications fit, so backward never waits for
		// the goroutine, even once a call has failed.
		r.ready = make(chan int, layers)
		r.results = make(chan error, 1)
		r.stop, r.done = make(chan struct{}), make(chan struct{})
		go r.run()
	}
	return r
}

func (r *bucketReducer[T]) reduce(ds *data.Dataset, idx []int, epoch int, st *stepTimes) (float64, error) {
	weight := float64(len(idx))
	loss := len(r.buf) - 1
	start := time.Now()
	// The goroutine, if any, is idle: it delivered the last step's result
	// and waits for this step's first layer.
	r.calls = 0
	var err error
	if r.ready == nil {
		r.buf[loss] = T(r.rep.Gradients(ds, idx, epoch))
		backward := time.Now()
		err = r.timedCall(r.buf, weight)
		st.gradient, st.wait = backward.Sub(start), time.Since(backward)
	} else {
		r.weight = weight
		r.rep.GradientsByLayer(ds, idx, epoch, r)
		backward := time.Now()
		err = <-r.results
		st.gradient, st.wait = backward.Sub(start), time.Since(backward)
	}
	st.calls = r.calls
	return float64(r.buf[loss]), err
}

// timedCall makes one call and adds its time to calls.
func (r *bucketReducer[T]) timedCall(b []T, weight float64) error {
	t := time.Now()
	err := r.call(b, weight)
	r.calls += time.Since(t)
	return err
}

// CostReady implements nn.LayerSink: the loss rides in the first bucket.
func (r *bucketReducer[T]) CostReady(cost float64) { r.buf[len(r.buf)-1] = T(cost) }

// LayerReady implements nn.LayerSink. It never blocks: ready holds a step.
func (r *bucketReducer[T]) LayerReady(lo, _ int) { r.ready <- lo }

func (r *bucketReducer[T]) close() {
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
}

// errClosed ends the goroutine: close came before a step's last layer.
var errClosed = errors.New("worker: reducer closed")

// run is the goroutine: one step's calls, then its result, until close.
func (r *bucketReducer[T]) run() {
	defer close(r.done)
	for {
		err := r.step()
		if err == errClosed {
			return
		}
		select {
		case r.results <- err:
		case <-r.stop:
			return
		}
	}
}

// step makes one step's calls, each once backward has finished its bucket,
// and returns the first error. After a failed call it makes no more but
// still takes the step's remaining layers, so that the next step starts
// with ready empty.
func (r *bucketReducer[T]) step() (err error) {
	low := len(r.buf) // backward has finished buf[low:]
	for _, b := range r.plan {
		for low > b.lo {
			select {
			case low = <-r.ready:
			case <-r.stop:
				return errClosed
			}
		}
		if err == nil {
			err = r.timedCall(r.buf[b.lo:b.hi], r.weight)
		}
	}
	return err
}
