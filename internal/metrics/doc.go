// Package metrics gives a ringtrain process its Prometheus registry (its
// own: an embedded etcd claims the default one) with the Go runtime's and
// the process's collectors, and serves it at /metrics (--metrics-listen).
//
// The metrics themselves are defined where they are measured: the
// worker's in package worker, the coordinator's in package coordinator.
// Every name starts with ringtrain_.
package metrics
