// Package scaleout holds the process-level scale-out tests (README
// "Scale-out"): worker processes against a JetStream cluster, Redis Sentinel
// and Cluster, TLS and JWT authentication. A package of its own, so go
// test's per-package timeout is not shared with the rest.
package scaleout

import (
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/cmd/internal/workercmd"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

// The test binary doubles as auth0-worker (testproc).
func TestMain(m *testing.M) {
	testproc.Main(m, func() {
		ctx, stop := workercmd.SignalContext(os.Stderr)
		code := workercmd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	})
}

// baseEnv is the worker environment against emu: the events source from a
// fixed start point (a restart must not move "now" past users created
// meanwhile), a short lease, small command budgets.
func baseEnv(emu *emulatortest.Server, extra ...string) []string {
	return append([]string{
		"AUTH0_DOMAIN=" + emu.URL,
		"AUTH0_CLIENT_ID=" + emulator.DefaultClientID,
		"AUTH0_CLIENT_SECRET=" + emulator.DefaultClientSecret,
		"POLL_SOURCE=events", "LEASE_TTL=2s",
		"POLL_START=" + time.Now().UTC().Add(-time.Second).Format(time.RFC3339),
		"COMMAND_CONCURRENCY=4", "COMMAND_MAX_DELIVER=10", "COMMAND_TIMEOUT=5s",
	}, extra...)
}

// client is a JetStream context on the test's own connection (nc from
// testnats: reconnecting forever).
func client(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
