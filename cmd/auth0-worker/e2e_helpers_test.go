package main

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
)

// e2eRig is the set of real parts (internal/testkit) a process-level test
// runs the worker against: embedded NATS (file store), a real redis-server
// (AOF) and the Auth0 emulator, plus a test-side NATS connection that
// survives restarts.
type e2eRig struct {
	t     *testing.T
	nats  *testkit.NATS
	redis *testkit.Redis
	emu   *emulatortest.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	dir   string
}

func newE2ERig(t *testing.T, cfg emulator.Config) *e2eRig {
	t.Helper()
	return newE2ERigOn(t, testkit.StartNATS(t), cfg)
}

// newE2ERigOn is newE2ERig with the test's NATS connection given.
func newE2ERigOn(t *testing.T, n *testkit.NATS, cfg emulator.Config) *e2eRig {
	t.Helper()
	return &e2eRig{t: t, nats: n, redis: testkit.StartRedis(t), emu: testkit.Emulator(t, cfg), nc: n.NC, js: n.JS, dir: t.TempDir()}
}

// env is the worker environment for one client of the emulator; extra
// KEY=VALUE entries come last and so override (os/exec keeps the last).
func (r *e2eRig) env(clientID, secret string, extra ...string) []string {
	return append([]string{
		"AUTH0_DOMAIN=" + r.emu.URL,
		"AUTH0_CLIENT_ID=" + clientID,
		"AUTH0_CLIENT_SECRET=" + secret,
		"NATS_URL=" + r.nats.URL(),
		"REDIS_URL=" + r.redis.URL(),
	}, extra...)
}

// start runs the worker ("run" unless args say otherwise) in the rig's
// directory and waits until its HTTP server listens.
func (r *e2eRig) start(env []string, args ...string) *testkit.Worker {
	r.t.Helper()
	return testkit.Start(r.t, r.dir, env, args...)
}
