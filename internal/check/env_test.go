package check_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/check"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/poller"
)

const secret = "check-test-client-secret-8f3a"

type env struct {
	em   *emulatortest.Server
	nats *testkit.NATS
	vars map[string]string
}

// newEnv starts the emulator (one client whose secret is `secret`), NATS and
// Redis, and returns the worker's environment pointing at them.
func newEnv(t *testing.T) *env {
	t.Helper()
	em := testkit.Emulator(t, emulator.Config{Clients: []emulator.ClientCredentials{{ID: "check-client", Secret: secret}}})
	if _, err := em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "a@example.com", Indexed: true, NoEvent: true}}); err != nil {
		t.Fatal(err)
	}
	ns := testkit.StartNATS(t)
	rs := testkit.StartRedis(t)
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

// pollSources are the poller's selectable sources, as cmd passes them.
func pollSources() []check.Source {
	var out []check.Source
	for _, r := range poller.Selectable() {
		out = append(out, check.Source{Name: r.Name, EventsAPI: r.EventsAPI, Fallback: r.Fallback})
	}
	return out
}
