package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"--client", "a:s1:read:users,read:events", "--client", "b:s2", "--rate-limit", "2", "--index-lag", "2s"},
		env(map[string]string{"AUTH0_EMULATOR_RATE_LIMIT": "9", "AUTH0_EMULATOR_FAULT_RATE": "0.25", "AUTH0_EMULATOR_EVENTS_CYCLE": "3s", "AUTH0_EMULATOR_SEED_USERS": "5"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	k := o.cfg.Knobs
	if k.RateLimit != 2 || k.FaultRate != 0.25 || k.IndexLag != 2*time.Second || k.EventsCycle != 3*time.Second || o.seedUsers != 5 || o.addr != "127.0.0.1:8081" {
		t.Fatalf("options: %+v", o)
	}
	if len(o.cfg.Clients) != 2 || o.cfg.Clients[0].ID != "a" || strings.Join(o.cfg.Clients[0].Scopes, " ") != "read:users read:events" || o.cfg.Clients[1].Scopes != nil {
		t.Fatalf("clients: %+v", o.cfg.Clients)
	}
	o, err = parseArgs(nil, env(map[string]string{"AUTH0_EMULATOR_CLIENTS": "x:y:read:users; z:w"}), &bytes.Buffer{})
	if err != nil || len(o.cfg.Clients) != 2 || o.cfg.Clients[1].ID != "z" {
		t.Fatalf("env clients: %v %+v", err, o)
	}
	// The fidelity knobs and connections.
	o, err = parseArgs([]string{"--connection", "Other-DB", "--connection", "pl:email,gh:github", "--password-policy", "fair",
		"--token-rate-limit", "5", "--events-error-after", "2m", "--events-error-code", "connection_timeout", "--search-duration", "3s"},
		env(map[string]string{"AUTH0_EMULATOR_SEARCH_TIMEOUT": "1s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	k = o.cfg.Knobs
	if k.PasswordPolicy != "fair" || k.TokenRateLimit != 5 || k.EventsErrorAfter != 2*time.Minute || k.EventsErrorCode != "connection_timeout" || k.SearchDuration != 3*time.Second || k.SearchTimeout != time.Second {
		t.Fatalf("knobs: %+v", k)
	}
	want := []emulator.Connection{{Name: "Other-DB"}, {Name: "pl", Strategy: "email"}, {Name: "gh", Strategy: "github"}}
	if len(o.cfg.Connections) != 3 || o.cfg.Connections[0] != want[0] || o.cfg.Connections[1] != want[1] || o.cfg.Connections[2] != want[2] {
		t.Fatalf("connections: %+v", o.cfg.Connections)
	}
	o, err = parseArgs(nil, env(map[string]string{"AUTH0_EMULATOR_CONNECTIONS": "a; b:sms"}), &bytes.Buffer{})
	if err != nil || len(o.cfg.Connections) != 2 || o.cfg.Connections[1].Strategy != "sms" {
		t.Fatalf("env connections: %v %+v", err, o)
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--fault-rate", "2"}, nil, "AUTH0_EMULATOR_FAULT_RATE"},
		{nil, map[string]string{"AUTH0_EMULATOR_INDEX_LAG": "soon"}, "AUTH0_EMULATOR_INDEX_LAG"},
		{[]string{"--client", "nosecret"}, nil, "id:secret"},
		{[]string{"--client", "a:b:write:everything"}, nil, "unknown scope"},
		{nil, map[string]string{"AUTH0_EMULATOR_CLIENTS": "a:topsecret:bad"}, "[redacted]"},
		{[]string{"--rate-limit", "-1"}, nil, "AUTH0_EMULATOR_RATE_LIMIT"},
		{[]string{"--log-level", "loud"}, nil, "AUTH0_EMULATOR_LOG_LEVEL"},
		{[]string{"--client", "a:b", "--client", "a:c"}, nil, "twice"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{[]string{"--password-policy", "strong"}, nil, "AUTH0_EMULATOR_PASSWORD_POLICY"},
		{[]string{"--events-error-code", "payload_too_large"}, nil, "AUTH0_EMULATOR_EVENTS_ERROR_CODE"},
		{[]string{"--search-timeout", "-1s"}, nil, "AUTH0_EMULATOR_SEARCH_TIMEOUT"},
		{[]string{"--token-rate-limit", "-2"}, nil, "AUTH0_EMULATOR_TOKEN_RATE_LIMIT"},
		{nil, map[string]string{"AUTH0_EMULATOR_CONNECTIONS": "a|b"}, "AUTH0_EMULATOR_CONNECTIONS"},
	}
	for _, tc := range cases {
		_, err := parseArgs(tc.args, env(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want mention of %q", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("secret in error: %v", err)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startRun runs the emulator until ctx ends; it returns once it listens.
func startRun(t *testing.T, ctx context.Context, args []string, envs map[string]string) (addr string, done chan int, logs *syncBuf) {
	t.Helper()
	addrc := make(chan string, 1)
	done = make(chan int, 1)
	logs = &syncBuf{}
	go func() { done <- run(ctx, args, env(envs), logs, func(a string) { addrc <- a }) }()
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("exited early with %d: %s", code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}
	return addr, done, logs
}

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, logs := startRun(t, ctx, []string{"--addr", "127.0.0.1:0", "--seed-users", "3", "--client", "app:sup3rsecret", "--log-level", "debug"}, nil)
	base := "http://" + addr
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"sup3rsecret"}, "audience": {base + "/api/v2/"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/api/v2/users?include_totals=true", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page map[string]any
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page["total"] != 3.0 {
		t.Fatalf("seeded users: %v", page)
	}
	// An open SSE stream must not hold up shutdown.
	sreq, _ := http.NewRequest("GET", base+"/api/v2/events", nil)
	sreq.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown within 10s")
	}
	out := logs.String()
	if strings.Contains(out, "sup3rsecret") || strings.Contains(out, tok["access_token"].(string)) {
		t.Fatal("secret or token logged")
	}
	if !strings.Contains(out, "listening") || !strings.Contains(out, `"path":"/api/v2/users"`) {
		t.Fatalf("logs: %s", out)
	}
	_ = emulator.DefaultClientID
}
