package coordinator

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtrain/ringtrain/internal/metrics"
	"github.com/ringtrain/ringtrain/pkg/train"
)

// Metrics are a coordinator's Prometheus metrics.
type Metrics struct {
	leader                            prometheus.Gauge
	submitted                         prometheus.Counter
	ended, retries                    *prometheus.CounterVec
	epoch, loss, valAcc, testAcc, sps *prometheus.GaugeVec
	workers                           *prometheus.GaugeVec
	dataLoad                          prometheus.Histogram
	evicted                           prometheus.Counter
}

// NewMetrics returns a coordinator's metrics, registered on reg unless it
// is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns, sub := metrics.Namespace, "job"
	job := []string{"job"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, job)
	}
	m := &Metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "coordinator", Name: "leader",
			Help: "1 while this coordinator leads (runs jobs and answers calls), 0 while it stands by."}),
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "coordinator", Name: "jobs_submitted_total", Help: "Jobs accepted by SubmitJob."}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "coordinator", Name: "jobs_ended_total",
			Help: "Jobs that ended, by how: succeeded, failed, cancelled."}, []string{"state"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "coordinator", Name: "epoch_retries_total",
			Help: "Epoch attempts that failed and were redone, by cause: worker_left (its registration went), worker_failed (a worker reported a failure), stalled (no progress for --stall-timeout), etcd (the workers could not be listed or watched), other."}, []string{"cause"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "coordinator", Name: "evictions_total",
			Help: "Workers evicted (their registration revoked) because a failure named them."}),
		epoch:   gauge("epoch", "Epochs the job has completed."),
		loss:    gauge("train_loss", "Mean training loss of the job's last completed epoch."),
		valAcc:  gauge("validation_accuracy_ratio", "Validation accuracy after the job's last evaluated epoch (classification jobs with a validation split)."),
		testAcc: gauge("test_accuracy_ratio", "Test accuracy after the job's last evaluated epoch (classification jobs with a test set)."),
		sps:     gauge("samples_per_second", "Training samples per second of the job's last completed epoch, as rank 0 timed it."),
		workers: gauge("workers", "Workers in the ring of the job's current epoch."),
		dataLoad: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "coordinator", Name: "data_load_seconds",
			Help: "Time to load and encode a job's data set before its first epoch.", Buckets: metrics.LoadBuckets}),
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.submitted, m.ended, m.retries, m.evicted, m.epoch, m.loss, m.valAcc, m.testAcc, m.sps, m.workers, m.dataLoad)
	}
	return m
}

// recordEpoch records an evaluated epoch of job.
func (m *Metrics) recordEpoch(job string, er *train.EpochReport) {
	m.epoch.WithLabelValues(job).Set(float64(er.Epoch))
	m.loss.WithLabelValues(job).Set(er.TrainLoss)
	m.sps.WithLabelValues(job).Set(er.SamplesPerSec)
	if er.Val != nil && er.Val.Confusion != nil {
		m.valAcc.WithLabelValues(job).Set(er.Val.Accuracy)
	}
	if er.Test != nil && er.Test.Confusion != nil {
		m.testAcc.WithLabelValues(job).Set(er.Test.Accuracy)
	}
}

// Why an epoch attempt failed, for the retries' cause label.
var (
	errLeftCluster = errors.New("left the cluster")
	errNoProgress  = errors.New("no progress")
)

// workerFailure is a failure a worker reported.
type workerFailure struct{ worker, text string }

func (e *workerFailure) Error() string { return "worker " + e.worker + ": " + e.text }

func retryCause(err error) string {
	var wf *workerFailure
	switch {
	case errors.Is(err, errLeftCluster):
		return "worker_left"
	case errors.As(err, &wf):
		return "worker_failed"
	case errors.Is(err, errNoProgress):
		return "stalled"
	}
	return "other"
}
