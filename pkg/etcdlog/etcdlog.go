// Package etcdlog gives etcd's server and client the zap logger they want,
// writing through log/slog: warnings and errors only, and those that
// ringtrain's own choices or a healthy start-up cause at debug level.
//
// It imports no part of etcd, so that a process with only an etcd client
// (a worker) does not link the server.
package etcdlog

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a zap logger, as etcd's server and client want, that
// forwards warnings and errors to l and drops everything quieter: etcd logs
// every step of its life at info level, which would drown ringtrain's own
// logs. A nil l means slog.Default().
//
// Pass it to clients too (clientv3.Config.Logger): without one the client
// builds its own info-level logger on stderr.
func New(l *slog.Logger) *zap.Logger {
	return NewHushed(l, nil)
}

// NewHushed is New with a switch: while *hush is true, etcd's
// warnings and errors are logged at debug level. A server sets it while it
// starts and stops, when etcd reports as errors what is expected then
// ("http: Server closed").
func NewHushed(l *slog.Logger, hush *atomic.Bool) *zap.Logger {
	if l == nil {
		l = slog.Default()
	}
	return zap.New(&slogCore{l: l.With("component", "etcd"), hush: hush})
}

// benign lists what etcd warns about for choices ringtrain makes on
// purpose (one port, no auth), a race of every new cluster (the first
// storage-version update runs before raft's term is saved and fails, the
// next one succeeds), and the client's note of each retry of a call
// (a keep-alive of a lease that expired, etcd starting): the caller gets
// the error if the retries fail, and ringtrain logs what it means.
var benign = map[string]bool{
	"retrying of unary invoker failed": true,
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
	"Failed to detect schema version":                                                      true,
	"failed to update storage version":                                                     true,
}

// slogCore is a zapcore.Core that writes entries to a slog.Logger.
type slogCore struct {
	l    *slog.Logger
	hush *atomic.Bool
}

func (c *slogCore) Enabled(lvl zapcore.Level) bool { return lvl >= zapcore.WarnLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l.With(attrs(fields)...), hush: c.hush}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && c.l.Enabled(context.Background(), c.level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := attrs(fields)
	if e.LoggerName != "" {
		args = append(args, slog.String("logger", e.LoggerName))
	}
	c.l.Log(context.Background(), c.level(e), e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func (c *slogCore) level(e zapcore.Entry) slog.Level {
	if benign[e.Message] || (c.hush != nil && c.hush.Load()) {
		return slog.LevelDebug
	}
	return slogLevel(e.Level)
}

func slogLevel(lvl zapcore.Level) slog.Level {
	if lvl >= zapcore.ErrorLevel {
		return slog.LevelError
	}
	return slog.LevelWarn
}

// attrs turns zap fields into slog attributes, sorted by key so that the
// same fields always print in the same order.
func attrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}
