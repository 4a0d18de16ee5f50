package localcluster

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// datasetFetches counts the workers' GetDataset calls and holds each back
// for delay before it starts.
type datasetFetches struct {
	n     atomic.Int32
	delay time.Duration
}

func (d *datasetFetches) option() grpc.DialOption {
	return grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if method == ringtrainv1.WorkerService_GetDataset_FullMethodName {
			d.n.Add(1)
			select {
			case <-time.After(d.delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return streamer(ctx, desc, cc, method, opts...)
	})
}

// TestWorkersKeepDatasetAcrossJobs checks that a worker fetches a training
// set once: a second job with the same data starts without a transfer, and
// a job with other data fetches it.
func TestWorkersKeepDatasetAcrossJobs(t *testing.T) {
	var fetches datasetFetches
	c := startWith(t, Config{Workers: 2, WorkerDialOptions: []grpc.DialOption{fetches.option()}})
	other := []byte(strings.Replace(string(job("1")), "samples: 600", "samples: 300", 1))
	for _, step := range []struct {
		name string
		spec []byte
		want int32
	}{
		{"first job", job("1"), 2},
		{"same data", job("2"), 2},
		{"other data", other, 4},
	} {
		last, _ := run(t, c, step.spec, 2, nil)
		if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
			t.Fatalf("%s: job ended %s: %s", step.name, last.GetState(), last.GetError())
		}
		if got := fetches.n.Load(); got != step.want {
			t.Errorf("after the %s: %d dataset fetches, want %d", step.name, got, step.want)
		}
	}
}

// TestSlowDatasetKeepsRegistrations checks that a worker whose data takes
// longer to arrive than its lease's TTL stays registered: the job's epochs
// run once each, and no worker registers again.
func TestSlowDatasetKeepsRegistrations(t *testing.T) {
	fetches := datasetFetches{delay: 3 * time.Second} // the cluster's TTL is 2 s
	c := startWith(t, Config{Workers: 2, WorkerDialOptions: []grpc.DialOption{fetches.option()}})
	registered := func() map[string]int64 {
		resp, err := c.Etcd().Get(context.Background(), etcdkeys.WorkersPrefix, withPrefix())
		if err != nil {
			t.Fatal(err)
		}
		revs := map[string]int64{}
		for _, kv := range resp.Kvs {
			revs[string(kv.Key)] = kv.CreateRevision
		}
		return revs
	}
	before := registered()
	for deadline := time.Now().Add(10 * time.Second); len(before) < 2 && time.Now().Before(deadline); before = registered() {
		time.Sleep(20 * time.Millisecond)
	}
	if len(before) != 2 {
		t.Fatalf("%d workers registered, want 2", len(before))
	}
	last, events := run(t, c, job("2"), 2, nil)
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %s: %s", last.GetState(), last.GetError())
	}
	if fetches.n.Load() != 2 {
		t.Errorf("%d dataset fetches, want one per worker", fetches.n.Load())
	}
	for _, ev := range events {
		if m := ev.GetMessage(); strings.Contains(m, "redoing") {
			t.Errorf("an epoch was redone: %s", m)
		}
	}
	after := registered()
	for key, rev := range before {
		if after[key] != rev {
			t.Errorf("%s registered at revision %d before the job, %d after: it lost its registration", key, rev, after[key])
		}
	}
}
