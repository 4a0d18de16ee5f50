package etcdlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var hush atomic.Bool
	z := NewHushed(l, &hush).With(zap.String("member", "m1"))

	z.Info("chatty")
	z.Warn("benign", zap.Error(errors.New("boom")))
	z.Warn("Running http and grpc server on single port. This is not recommended for production.")
	z.Error("failed", zap.Int("n", 2))
	hush.Store(true)
	z.Error("http: Server closed")

	got := buf.String()
	for _, want := range []string{
		`level=WARN msg=benign component=etcd member=m1 error=boom`,
		`level=ERROR msg=failed component=etcd member=m1 n=2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"chatty", "single port", "Server closed"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("log has %q, which belongs at info or debug:\n%s", unwanted, got)
		}
	}
}
