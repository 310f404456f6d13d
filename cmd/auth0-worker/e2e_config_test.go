package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
)

// runToExit runs the worker child process with env and waits (up to 20 s)
// for it to exit by itself; it returns the exit code and its output. A
// data race it reports fails the test (testkit.Launch).
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	p := testkit.Launch(t, t.TempDir(), env, args...)
	code, _ := p.WaitExit(t, 20*time.Second, time.Now())
	return code, p.Out.String()
}

// TestE2EConfigErrorsExit2: bad start-up configuration exits 2 with one line naming
// the variable, and never echoes the secret. These run as child processes
// so the test's own environment cannot leak into config.FromEnv.
func TestE2EConfigErrorsExit2(t *testing.T) {
	const secret = "s3cret-never-printed"
	good := map[string]string{
		"AUTH0_DOMAIN":        "http://127.0.0.1:1",
		"AUTH0_CLIENT_ID":     "client",
		"AUTH0_CLIENT_SECRET": secret,
		"NATS_URL":            "nats://127.0.0.1:1",
		"REDIS_URL":           "redis://127.0.0.1:1/0",
		"HTTP_ADDR":           "127.0.0.1:0",
	}
	envWith := func(change map[string]string) []string {
		var env []string
		for k, v := range good {
			if nv, ok := change[k]; ok {
				if nv == "" {
					continue // unset
				}
				v = nv
			}
			env = append(env, k+"="+v)
		}
		for k, v := range change {
			if _, ok := good[k]; !ok {
				env = append(env, k+"="+v)
			}
		}
		return env
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
		want   []string // substrings of the output
	}{
		{"AUTH0_DOMAIN missing", map[string]string{"AUTH0_DOMAIN": ""}, []string{"AUTH0_DOMAIN"}},
		{"AUTH0_CLIENT_ID missing", map[string]string{"AUTH0_CLIENT_ID": ""}, []string{"AUTH0_CLIENT_ID"}},
		{"AUTH0_CLIENT_SECRET missing", map[string]string{"AUTH0_CLIENT_SECRET": ""}, []string{"AUTH0_CLIENT_SECRET"}},
		{"http non-loopback domain", map[string]string{"AUTH0_DOMAIN": "http://example.com"}, []string{"AUTH0_DOMAIN", "loopback"}},
		{"POLL_QUERY with events", map[string]string{"POLL_SOURCE": "events", "POLL_QUERY": "email:*@example.com"}, []string{"POLL_QUERY", "events"}},
		{"search with updates and no receiver", map[string]string{"POLL_SOURCE": "search", "EVENT_TYPES": "user.created,user.updated"}, []string{"EVENT_TYPES", "WEBHOOK_ADDR", "POLL_SOURCE is search"}},
		{"receiver without credentials", map[string]string{"WEBHOOK_ADDR": "127.0.0.1:0", "WEBHOOK_BASIC_PASSWORD": secret}, []string{"WEBHOOK_BASIC_USER"}},
		// 100ms once passed config and was refused by poller.New only after connecting.
		{"lease shorter than the poller accepts", map[string]string{"LEASE_TTL": "100ms"}, []string{"LEASE_TTL", "at least 300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runToExit(t, envWith(tc.change), "run")
			if code != 2 {
				t.Errorf("exit code %d, want 2; output:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, secret) {
				t.Errorf("output carries the client secret:\n%s", out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("output has a stack trace:\n%s", out)
			}
		})
	}

	// A stream of the worker's name that exists with other subjects: two
	// prefixes must never share a stream.
	t.Run("stream with other subjects", func(t *testing.T) {
		ns := testnats.Start(t)
		js, err := jetstream.New(ns.Connect(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AUTH0_USERS", Subjects: []string{"other.users.>"}}); err != nil {
			t.Fatal(err)
		}
		code, out := runToExit(t, envWith(map[string]string{"NATS_URL": ns.URL()}), "run")
		if code != 2 {
			t.Errorf("exit code %d, want 2; output:\n%s", code, out)
		}
		for _, w := range []string{"AUTH0_USERS", "other subjects"} {
			if !strings.Contains(out, w) {
				t.Errorf("output does not say %q:\n%s", w, out)
			}
		}
		s, err := js.Stream(ctx, "AUTH0_USERS")
		if err != nil {
			t.Fatal(err)
		}
		if subj := s.CachedInfo().Config.Subjects; len(subj) != 1 || subj[0] != "other.users.>" {
			t.Errorf("the worker changed the foreign stream's subjects to %v", subj)
		}
	})
}
