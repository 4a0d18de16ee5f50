package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every ringtrain metric.
const Namespace = "ringtrain"

// LoadBuckets are the histogram buckets of a data set's loading, from a
// few milliseconds to minutes.
var LoadBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250}

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Serve serves reg at /metrics on lis until ctx ends, then shuts the
// server down (bounded by a few seconds).
func Serve(ctx context.Context, lis net.Listener, reg *prometheus.Registry, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogError{log}}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(lis)
	<-stopped
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", lis.Addr(), err)
	}
	return nil
}

// slogError is promhttp's error log, through slog.
type slogError struct{ log *slog.Logger }

func (l slogError) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// ServeWith listens on addr and serves reg there while run runs, and
// returns run's error once both have ended: the metrics of a process
// whose work is run. A failure to listen is returned before run starts;
// one while serving is logged, and the work goes on.
func ServeWith(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger, run func(context.Context) error) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	log.Info("serving metrics", "url", "http://"+lis.Addr().String()+"/metrics")
	sctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := Serve(sctx, lis, reg, log); err != nil {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	err = run(ctx)
	stop()
	<-served
	return err
}
