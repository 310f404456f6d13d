package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

func TestEventStreamFlags(t *testing.T) {
	o, err := parseArgs([]string{"--webhook-max-attempts", "3", "--webhook-reorder-window", "4", "--event-stream-endpoints", "http://127.0.0.1:1/a, http://127.0.0.1:2/b"},
		env(map[string]string{"AUTH0_EMULATOR_WEBHOOK_RETRY_BASE": "10ms", "AUTH0_EMULATOR_EVENT_STREAM_BEARER_TOKEN": "tok"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	d := o.cfg.EventStreamDefaults
	if d.MaxAttempts != 3 || d.ReorderWindow != 4 || d.RetryBase != 10*time.Millisecond || d.DisableAfter != 500 || d.Timeout != 10*time.Second {
		t.Fatalf("delivery defaults %+v", d)
	}
	cfg, ok, err := o.stream.config()
	if err != nil || !ok || cfg.WebhookEndpoint != "http://127.0.0.1:1/a" || len(cfg.WebhookEndpoints) != 1 || cfg.WebhookAuthorization.Token != "tok" || len(cfg.Subscriptions) != 3 {
		t.Fatalf("stream %+v %v %v", cfg, ok, err)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--webhook-max-attempts", "-1"}, nil, "max_attempts"},
		{[]string{"--webhook-duplicate-probability", "1.5"}, nil, "duplicate_probability"},
		{[]string{"--event-stream-bearer-token", "t0psecret"}, nil, "needs --event-stream-endpoints"},
		{[]string{"--event-stream-endpoints", "http://127.0.0.1:1/"}, nil, "needs --event-stream-bearer-token"},
		{[]string{"--event-stream-endpoints", "http://127.0.0.1:1/"}, map[string]string{"AUTH0_EMULATOR_EVENT_STREAM_BASIC": "t0psecret"}, "user:password"},
		{[]string{"--event-stream-endpoints", "http://example.com/", "--event-stream-bearer-token", "t0psecret"}, nil, "loopback"},
		{[]string{"--event-stream-endpoints", "https://example.com/", "--event-stream-bearer-token", "t0psecret", "--event-stream-types", "user.born"}, nil, "subscriptions"},
	} {
		_, err := parseArgs(c.args, env(c.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "t0psecret") {
			t.Errorf("%v %v: %v, want an error naming %q without the secret", c.args, c.env, err, c.want)
		}
	}
}

// TestRunCreatesEventStream: --event-stream-* makes the emulator deliver to
// a receiver from the start.
func TestRunCreatesEventStream(t *testing.T) {
	got := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Header.Get("Authorization") + " " + string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, logs := startRun(t, ctx, []string{"--addr", "127.0.0.1:0", "--event-stream-endpoints", recv.URL + "/auth0/events", "--event-stream-types", "user.created"},
		map[string]string{"AUTH0_EMULATOR_EVENT_STREAM_BEARER_TOKEN": "hook-s3cret"})
	body, _ := json.Marshal([]map[string]any{{"email": "hook@example.com"}})
	resp, err := http.Post("http://"+addr+"/emulator/users", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "Bearer hook-s3cret ") || !strings.Contains(s, `"type":"user.created"`) || !strings.Contains(s, "hook@example.com") {
			t.Fatalf("delivery %s", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery within 20s")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out := logs.String(); strings.Contains(out, "hook-s3cret") || !strings.Contains(out, "event stream delivering") {
		t.Fatalf("logs: %s", out)
	}
}

// The flags' defaults are the emulator's own (printed by --help, so they
// are written out; this keeps them equal).
func TestEventStreamFlagDefaultsAreTheEmulators(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var d emulator.DeliveryKnobs
	eventStreamFlags(fs, &d, &streamOptions{})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if want := emulator.DefaultDelivery(); d != want {
		t.Fatalf("flag defaults %+v, want emulator.DefaultDelivery() %+v", d, want)
	}
}
