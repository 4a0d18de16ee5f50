package localcluster

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"

	"github.com/ringtrain/ringtrain/internal/metrics"
	"github.com/ringtrain/ringtrain/pkg/coordinator"
	"github.com/ringtrain/ringtrain/pkg/worker"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// serveMetrics serves reg on loopback until the test ends and returns its
// URL.
func serveMetrics(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, lis, reg, quiet()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + lis.Addr().String() + "/metrics"
}

// scrape fetches url and returns its families by name.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the value of the series of name whose labels include the
// given name=value pairs: a counter's or gauge's value, a histogram's
// count. It fails the test when there is none.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series of %s with labels %v", name, labels)
	return 0
}

// TestMetricsDuringAJob scrapes a worker's and the coordinator's /metrics
// while a job trains on two workers: the worker's counters grow from epoch
// to epoch, and the coordinator's gauges follow the job to its end.
func TestMetricsDuringAJob(t *testing.T) {
	creg, wreg := metrics.NewRegistry(), metrics.NewRegistry()
	cm := coordinator.NewMetrics(creg)
	c := startWith(t, Config{Workers: 2, CoordinatorMetrics: cm, WorkerMetrics: func(id string) *worker.Metrics {
		if id == "worker-1" {
			return worker.NewMetrics(wreg)
		}
		return nil
	}})
	curl, wurl := serveMetrics(t, creg), serveMetrics(t, wreg)

	var steps []float64 // the worker's steps_total at each epoch event
	last, _ := run(t, c, job("4"), 2, func(ev *ringtrainv1.JobEvent) {
		if ev.GetEpoch() != nil {
			steps = append(steps, value(t, scrape(t, wurl), "ringtrain_worker_steps_total"))
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v: %s", last.GetState(), last.GetError())
	}
	if len(steps) != 4 {
		t.Fatalf("saw %d epoch events, want 4", len(steps))
	}
	for i := 1; i < len(steps); i++ {
		if steps[i] <= steps[i-1] {
			t.Errorf("worker steps_total did not grow from epoch %d to %d: %v", i, i+1, steps)
		}
	}

	w := scrape(t, wurl)
	// 480 training samples in batches of 50: 10 steps an epoch.
	for _, tc := range []struct {
		name   string
		labels []string
		want   func(float64) bool
		says   string
	}{
		{"ringtrain_worker_steps_total", nil, func(v float64) bool { return v == 40 }, "40 (4 epochs of 10 steps)"},
		{"ringtrain_worker_step_seconds", nil, func(v float64) bool { return v == 40 }, "40 observations"},
		{"ringtrain_worker_step_phase_seconds", []string{"phase", "allreduce_wait"}, func(v float64) bool { return v == 40 }, "40 observations"},
		{"ringtrain_allreduce_bytes_total", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"ringtrain_allreduce_bus_bandwidth_bytes_per_second", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"ringtrain_ring_generation", nil, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"ringtrain_worker_epoch", nil, func(v float64) bool { return v == 4 }, "4"},
		{"ringtrain_worker_registered", nil, func(v float64) bool { return v == 1 }, "1"},
		{"ringtrain_worker_data_load_seconds", nil, func(v float64) bool { return v == 1 }, "1 load"},
		{"go_goroutines", nil, func(v float64) bool { return v > 0 }, "> 0"},
	} {
		if v := value(t, w, tc.name, tc.labels...); !tc.want(v) {
			t.Errorf("worker %s%v = %v, want %s", tc.name, tc.labels, v, tc.says)
		}
	}

	// The last plan's ring closes once the job has ended: the worker is in
	// none, as the deploy guide's alerts expect of an idle one.
	for deadline := time.Now().Add(10 * time.Second); value(t, scrape(t, wurl), "ringtrain_ring_size") != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ringtrain_ring_size still %v after the job ended, want 0", value(t, scrape(t, wurl), "ringtrain_ring_size"))
		}
	}

	co := scrape(t, curl)
	id := last.GetId()
	for _, tc := range []struct {
		name   string
		labels []string
		want   func(float64) bool
		says   string
	}{
		{"ringtrain_coordinator_leader", nil, func(v float64) bool { return v == 1 }, "1"},
		{"ringtrain_coordinator_jobs_submitted_total", nil, func(v float64) bool { return v == 1 }, "1"},
		{"ringtrain_coordinator_jobs_ended_total", []string{"state", "succeeded"}, func(v float64) bool { return v == 1 }, "1"},
		{"ringtrain_job_epoch", []string{"job", id}, func(v float64) bool { return v == 4 }, "4"},
		{"ringtrain_job_workers", []string{"job", id}, func(v float64) bool { return v == 2 }, "2"},
		{"ringtrain_job_samples_per_second", []string{"job", id}, func(v float64) bool { return v > 0 }, "> 0"},
		{"ringtrain_job_validation_accuracy_ratio", []string{"job", id}, func(v float64) bool { return v > 0.5 && v <= 1 }, "in (0.5, 1]"},
		{"ringtrain_job_train_loss", []string{"job", id}, func(v float64) bool { return v > 0 && v < 2 }, "in (0, 2)"},
		{"ringtrain_coordinator_data_load_seconds", nil, func(v float64) bool { return v == 1 }, "1 load"},
	} {
		if v := value(t, co, tc.name, tc.labels...); !tc.want(v) {
			t.Errorf("coordinator %s%v = %v, want %s", tc.name, tc.labels, v, tc.says)
		}
	}
}
