package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringtrain/ringtrain/internal/metrics"
)

// Metrics are a worker's Prometheus metrics. Recording one allocates
// nothing: the training step records every step.
type Metrics struct {
	steps, samples, failures prometheus.Counter
	step                     prometheus.Histogram
	gradient, wait, optim    prometheus.Observer
	arBytes, arSeconds       prometheus.Counter
	busbw, ringSize, ringGen prometheus.Gauge
	epoch, loss, registered  prometheus.Gauge
	dataLoad                 prometheus.Histogram
}

// stepBuckets span a step from a tenth of a millisecond to ten seconds.
var stepBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics returns a worker's metrics, registered on reg unless it is
// nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns, sub := metrics.Namespace, "worker"
	phase := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "step_phase_seconds",
		Help:    "Time of each part of a training step: gradient (forward and backward, with the all-reduce of buckets overlapping it), allreduce_wait (after backward, for the last bucket's all-reduce) and optimizer.",
		Buckets: stepBuckets}, []string{"phase"})
	m := &Metrics{
		steps:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "steps_total", Help: "Training steps this worker has taken part in."}),
		samples:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "samples_total", Help: "Samples whose gradient this worker computed (its shards of the batches)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "epoch_failures_total", Help: "Epoch attempts that failed on this worker (reported to the coordinator)."}),
		step: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "step_seconds",
			Help: "Time of a whole training step: gradient, all-reduce and optimizer.", Buckets: stepBuckets}),
		gradient: phase.WithLabelValues("gradient"),
		wait:     phase.WithLabelValues("allreduce_wait"),
		optim:    phase.WithLabelValues("optimizer"),
		arBytes:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "allreduce", Name: "bytes_total", Help: "Bytes of gradient (and loss) this worker all-reduced."}),
		arSeconds: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "allreduce", Name: "seconds_total",
			Help: "Time this worker spent in all-reduce calls (overlapping backward when the gradient goes in buckets)."}),
		busbw: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "allreduce", Name: "bus_bandwidth_bytes_per_second",
			Help: "Bus bandwidth of the last step's all-reduce calls: bytes × 2(N−1)/N over their time."}),
		ringSize: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "ring", Name: "size", Help: "Members of the ring this worker is in (0: none)."}),
		ringGen:  prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "ring", Name: "generation", Help: "Generation of the ring this worker is in."}),
		epoch:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "epoch", Help: "The epoch this worker trains (1-based), or trained last."}),
		loss:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "loss", Help: "Mean training loss of the last step's batch, averaged over the ring."}),
		registered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "registered",
			Help: "1 while this worker holds its registration in etcd, else 0."}),
		dataLoad: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "data_load_seconds",
			Help: "Time to fetch and decode a job's training set from the coordinator.", Buckets: metrics.LoadBuckets}),
	}
	if reg != nil {
		reg.MustRegister(phase, m.steps, m.samples, m.failures, m.step, m.arBytes, m.arSeconds, m.busbw,
			m.ringSize, m.ringGen, m.epoch, m.loss, m.registered, m.dataLoad)
	}
	return m
}

// stepTimes is how one step's time went.
type stepTimes struct {
	gradient time.Duration // forward and backward
	wait     time.Duration // after backward, until the last all-reduce call ended
	calls    time.Duration // in all-reduce calls, overlapping gradient or not
}

// recordStep records a step of members workers that computed samples of
// the batch, all-reduced bytes and took opt in the optimizer.
func (m *Metrics) recordStep(st *stepTimes, opt time.Duration, samples, bytes, members int, loss float64) {
	m.steps.Inc()
	m.samples.Add(float64(samples))
	m.step.Observe((st.gradient + st.wait + opt).Seconds())
	m.gradient.Observe(st.gradient.Seconds())
	m.wait.Observe(st.wait.Seconds())
	m.optim.Observe(opt.Seconds())
	m.arBytes.Add(float64(bytes))
	m.arSeconds.Add(st.calls.Seconds())
	if st.calls > 0 && members > 1 {
		m.busbw.Set(float64(bytes) * 2 * float64(members-1) / float64(members) / st.calls.Seconds())
	}
	m.loss.Set(loss)
}

// recordRing records the ring of an epoch attempt (size 0: none).
func (m *Metrics) recordRing(size int, generation uint64, epoch int) {
	m.ringSize.Set(float64(size))
	m.ringGen.Set(float64(generation))
	m.epoch.Set(float64(epoch))
}
