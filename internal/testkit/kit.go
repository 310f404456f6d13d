// Package testkit is the one set of test parts every package's tests build
// on, each optional and each stopped by t.Cleanup: an embedded NATS with
// JetStream (NATS), a real redis-server with its client (Redis), the Auth0
// emulator and a client for it (Emulator, Auth0Client), a logger and a
// context bound to the test, stream readers (Msgs, Count, WaitCount,
// UsersExactlyOnce, OutcomesExactlyOnce, Watch), a user creator
// (CreateUsers), a Prometheus value reader (Value) and auth0-worker child
// processes (Start, Launch). A package keeps only the glue that builds its
// own component from these parts; see docs/architecture.md.
//
// The worker children are the test binary itself (internal/testproc): a test
// package's TestMain calls testproc.Main.
package testkit

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// envLog, when set, makes Logger write debug logs to stderr.
const envLog = "TESTKIT_LOG"

// Logger discards, unless TESTKIT_LOG is set (then debug text to stderr).
func Logger() *slog.Logger {
	if os.Getenv(envLog) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Context ends with the test, and at the latest after a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
