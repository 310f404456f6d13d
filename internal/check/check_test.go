package check_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/check"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/poller"
)

const secret = "check-test-client-secret-8f3a"

type env struct {
	em   *emulatortest.Server
	nats *testnats.Server
	vars map[string]string
}

// newEnv starts the emulator (one client whose secret is `secret`), NATS and
// Redis, and returns the worker's environment pointing at them.
func newEnv(t *testing.T) *env {
	t.Helper()
	em := emulatortest.NewServer(t, emulator.Config{Clients: []emulator.ClientCredentials{{ID: "check-client", Secret: secret}}})
	if _, err := em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "a@example.com", Indexed: true, NoEvent: true}}); err != nil {
		t.Fatal(err)
	}
	ns := testnats.Start(t)
	rs := testredis.Start(t)
	return &env{em: em, nats: ns, vars: map[string]string{
		"AUTH0_DOMAIN":        em.URL,
		"AUTH0_CLIENT_ID":     "check-client",
		"AUTH0_CLIENT_SECRET": secret,
		"NATS_URL":            ns.URL(),
		"REDIS_URL":           rs.URL(),
	}}
}

// run loads the configuration like `auth0-worker check` and runs the check.
func (e *env) run(t *testing.T) (bool, string) {
	t.Helper()
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok }, config.NeedFor("check"))
	var d check.Deps
	if err != nil {
		d = check.Deps{ConfigErr: err}
	} else {
		client, err := auth0.New(auth0.Config{BaseURL: cfg.Auth0.BaseURL, ClientID: cfg.Auth0.ClientID, ClientSecret: cfg.Auth0.ClientSecret.Reveal(), Audience: cfg.Auth0.Audience, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		d = check.FromConfig(cfg, client, pollSources())
		d.Timeout = 5 * time.Second
	}
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok := check.Run(ctx, d, &buf)
	out := buf.String()
	t.Logf("check output:\n%s", out)
	if strings.Contains(out, secret) {
		t.Fatalf("check output contains the client secret")
	}
	return ok, out
}

// line returns the output line of item, failing if absent.
func line(t *testing.T, out, item string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(strings.TrimSpace(l[6:]), item+" ") {
			return l
		}
	}
	t.Fatalf("no line for %q in\n%s", item, out)
	return ""
}

func wantLine(t *testing.T, out, item, status string, contains ...string) {
	t.Helper()
	l := line(t, out, item)
	if !strings.HasPrefix(l, status) {
		t.Errorf("%s: want %s, got %q", item, status, l)
	}
	for _, c := range contains {
		if !strings.Contains(l, c) {
			t.Errorf("%s: line %q lacks %q", item, l, c)
		}
	}
}

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

// pollSources are the poller's selectable sources, as cmd passes them.
func pollSources() []check.Source {
	var out []check.Source
	for _, r := range poller.Selectable() {
		out = append(out, check.Source{Name: r.Name, EventsAPI: r.EventsAPI, Fallback: r.Fallback})
	}
	return out
}
