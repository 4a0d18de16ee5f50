// Package logflag makes the slog logger that the --log-format and
// --verbose flags of ringtrain's binaries ask for.
package logflag

import (
	"fmt"
	"io"
	"log/slog"
)

// Formats are the values --log-format takes.
const Formats = "text or json"

// New returns a logger writing to w in format ("text", the default, or
// "json", one object a line for log shippers), at debug level when
// verbose.
func New(w io.Writer, format string, verbose bool) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want %s", format, Formats)
}
