package localcluster

import (
	"runtime"
	"testing"

	"github.com/ringtrain/ringtrain/internal/blas"
	"github.com/ringtrain/ringtrain/pkg/worker"
)

// BenchmarkOverlap trains ddpJob's network (784-256-128-10) and the
// showcase's (784-1024-1024-10, wideJob) on an in-process ring of 2
// workers, with the gradient all-reduced in buckets while backward runs
// (buckets=default: worker.DefaultBucketBytes) and in one call after it
// (buckets=whole: BucketBytes -1, the step before overlap). Each reports
// its seconds per epoch: s/epoch for the steps alone, from rank 0's best
// epoch rate, and wall-s/epoch by the coordinator's clock (barriers,
// checkpoint and evaluation included; the first epoch, which loads the
// data, left out).
//
// whole − default is the all-reduce time overlap hides per epoch. Divided
// by the epoch's all-reduce time (469 steps × BenchmarkAllReduce at the
// gradient's size, 0.94 or 7.4 MB), it is the fraction hidden.
func BenchmarkOverlap(b *testing.B) {
	needFashion(b)
	nets := []struct{ name, spec string }{
		{"784-256-128-10", jobText("3")},
		{"784-1024-1024-10", wideJob("3")},
	}
	buckets := []struct {
		name  string
		bytes int
	}{{"default", worker.DefaultBucketBytes}, {"whole", -1}}
	for _, n := range nets {
		for _, bk := range buckets {
			b.Run("net="+n.name+"/buckets="+bk.name, func(b *testing.B) {
				blas.SetThreads(max(1, runtime.GOMAXPROCS(0)/2))
				var steps, wall float64
				for b.Loop() {
					steps, wall = overlapRun(b, bk.bytes, []byte(n.spec))
				}
				b.ReportMetric(steps, "s/epoch")
				b.ReportMetric(wall, "wall-s/epoch")
			})
		}
	}
}

// overlapRun trains spec on a new 2-worker cluster whose workers all-reduce
// in buckets of bucketBytes, and returns the seconds of its fastest epoch
// by rank 0's step rate and by the coordinator's clock (after the first).
func overlapRun(b *testing.B, bucketBytes int, spec []byte) (steps, wall float64) {
	rates, seconds := clusterEpochs(b, Config{Workers: 2, BucketBytes: bucketBytes}, spec)
	for i, rate := range rates {
		if rate > 0 && (steps == 0 || trainSamples/rate < steps) {
			steps = trainSamples / rate
		}
		if i > 0 && (wall == 0 || seconds[i] < wall) {
			wall = seconds[i]
		}
	}
	if steps == 0 || wall == 0 {
		b.Fatal("the job reported too few epochs")
	}
	return steps, wall
}
