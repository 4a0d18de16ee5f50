package allreduce

import (
	"log/slog"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A member process of a multi-process test or benchmark: it leaves
		// by os.Exit, and nothing must print but its protocol.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// quiet is the logger of rings under test: failures are what tests cause.
var quiet = slog.New(slog.DiscardHandler)
