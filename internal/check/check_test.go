package check_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

func TestAllPass(t *testing.T) {
	e := newEnv(t)
	ok, out := e.run(t)
	if !ok {
		t.Fatalf("check failed against healthy dependencies")
	}
	wantLine(t, out, "config", "PASS", e.em.URL)
	wantLine(t, out, "auth0 token", "PASS")
	wantLine(t, out, "auth0 list users", "PASS", "1 users")
	wantLine(t, out, "auth0 events API", "PASS")
	wantLine(t, out, "nats", "PASS", e.nats.URL())
	wantLine(t, out, "jetstream", "PASS")
	wantLine(t, out, "stream AUTH0_USERS", "PASS", "missing; will be created")
	wantLine(t, out, "stream AUTH0_DLQ", "PASS")
	wantLine(t, out, "redis", "PASS", "EVAL")
	if !strings.Contains(out, "all checks passed") {
		t.Fatal("no summary line")
	}
	// check changes nothing: no stream was created.
	js, _ := jetstream.New(e.nats.Connect(t))
	if _, err := js.Stream(context.Background(), "AUTH0_USERS"); err == nil {
		t.Fatal("check created a stream")
	}
}

func TestWrongClientSecret(t *testing.T) {
	e := newEnv(t)
	e.vars["AUTH0_CLIENT_SECRET"] = "wrong-" + secret
	ok, out := e.run(t)
	if ok {
		t.Fatal("check passed with a wrong client secret")
	}
	wantLine(t, out, "auth0 token", "FAIL", "401", "access_denied", "AUTH0_CLIENT_SECRET")
	wantLine(t, out, "auth0 list users", "SKIP")
	// The rest is still checked and passes.
	wantLine(t, out, "nats", "PASS")
	wantLine(t, out, "redis", "PASS")
	if strings.Contains(out, "wrong-") {
		t.Fatal("output contains the (wrong) secret")
	}
}

func TestUnreachableNATS(t *testing.T) {
	e := newEnv(t)
	e.nats.Shutdown()
	ok, out := e.run(t)
	if ok {
		t.Fatal("check passed with NATS down")
	}
	wantLine(t, out, "nats", "FAIL", "nats: connect to "+e.nats.URL(), "connection refused")
	wantLine(t, out, "stream AUTH0_USERS", "SKIP", "no NATS connection")
	wantLine(t, out, "auth0 token", "PASS")
	wantLine(t, out, "redis", "PASS")
}

func TestRedisRefusesAuth(t *testing.T) {
	const pw = "redis-acl-pw-77"
	e := newEnv(t)
	rs := testredis.StartWith(t, testredis.Options{ACLUser: "worker", ACLPassword: pw})
	e.vars["REDIS_URL"] = "redis://worker:bad" + pw + "@" + rs.Addr() + "/0"
	ok, out := e.run(t)
	if ok {
		t.Fatal("check passed with Redis refusing auth")
	}
	wantLine(t, out, "redis", "FAIL", "redis: ping redis://", rs.Addr(), "WRONGPASS")
	if strings.Contains(out, pw) {
		t.Fatal("output contains the Redis password")
	}
	wantLine(t, out, "nats", "PASS")

	// The same server with the right ACL credentials (password given as
	// REDIS_PASSWORD) passes.
	e.vars["REDIS_URL"] = "redis://worker@" + rs.Addr() + "/0"
	e.vars["REDIS_PASSWORD"] = pw
	ok, out = e.run(t)
	if !ok {
		t.Fatal("check failed with the right Redis ACL credentials")
	}
	wantLine(t, out, "redis", "PASS", rs.Addr())
	if strings.Contains(out, pw) {
		t.Fatal("output contains the Redis password")
	}
}

func TestStreamSubjectClash(t *testing.T) {
	e := newEnv(t)
	js, err := jetstream.New(e.nats.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// AUTH0_USERS exists with another prefix's subjects.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUTH0_USERS", Subjects: []string{"other.users.>"}}); err != nil {
		t.Fatal(err)
	}
	// Another stream already captures what AUTH0_COMMANDS would.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "GRAB_ALL", Subjects: []string{"auth0.cmd.>"}}); err != nil {
		t.Fatal(err)
	}
	ok, out := e.run(t)
	if ok {
		t.Fatal("check passed with a subject clash")
	}
	wantLine(t, out, "stream AUTH0_USERS", "FAIL", "[other.users.>]", "NATS_SUBJECT_PREFIX")
	wantLine(t, out, "stream AUTH0_COMMANDS", "FAIL", "GRAB_ALL")
	wantLine(t, out, "stream AUTH0_RESULTS", "PASS")
}

func TestEventsAPIRefused(t *testing.T) {
	e := newEnv(t)
	e.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.EventsDisabled = true })

	e.vars["POLL_SOURCE"] = "auto"
	ok, out := e.run(t)
	if !ok {
		t.Fatal("auto: a plan without the Events API must only warn")
	}
	wantLine(t, out, "auth0 events API", "WARN", "404", "search")

	e.vars["POLL_SOURCE"] = "events"
	ok, out = e.run(t)
	if ok {
		t.Fatal("events: a plan without the Events API must fail")
	}
	wantLine(t, out, "auth0 events API", "FAIL", "404")

	e.vars["POLL_SOURCE"] = "search"
	ok, out = e.run(t)
	if !ok {
		t.Fatal("search does not need the Events API")
	}
	wantLine(t, out, "auth0 events API", "PASS", "not used")
}

func TestConfigError(t *testing.T) {
	e := newEnv(t)
	delete(e.vars, "AUTH0_CLIENT_ID")
	ok, out := e.run(t)
	if ok {
		t.Fatal("check passed without AUTH0_CLIENT_ID")
	}
	wantLine(t, out, "config", "FAIL", "AUTH0_CLIENT_ID")
}
