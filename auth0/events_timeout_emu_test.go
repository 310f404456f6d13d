package auth0_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
)

// Auth0 ends a stream with `event: error` timeout or connection_timeout;
// the client reconnects from its last offset at once (the connection had
// worked), loses nothing, and does not slow down as the errors repeat.
func TestEventsReconnectAfterStreamTimeouts(t *testing.T) {
	for _, code := range []string{emulator.EventsErrorTimeout, emulator.EventsErrorConnectionTimeout} {
		t.Run(code, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { reconnectAfterStreamTimeouts(t, code) }) })
	}
}

// reconnectAfterStreamTimeouts runs in a synctest bubble: the deadline
// below is on the fake clock, so it measures the client's backoff, not the
// machine's load.
func reconnectAfterStreamTimeouts(t *testing.T, code string) {
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{
		EventsErrorAfter: 150 * time.Millisecond, EventsErrorCode: code,
		EventsHeartbeat: 20 * time.Millisecond, EventsRetry: 20 * time.Millisecond,
	}}, nil)
	// Ten timeouts in a row take about 1.5s when each reconnect is
	// immediate; with a growing backoff (0.5s, 0.75s, ...) they take
	// over 20s.
	const timeouts = 10
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Types: []string{"user.created"}, Reconnect: true})
	if err != nil {
		t.Fatalf("SubscribeEvents: %v", err)
	}
	defer s.Close()

	created, seen := map[string]bool{}, map[string]bool{}
	conns := 0
	for conns <= timeouts || len(seen) < len(created) {
		// One new user per connection: each reconnect must resume
		// from the offset, or the user created meanwhile is missed.
		if n := len(env.requests("GET", "/api/v2/events")); n > conns {
			conns = n
			ids, err := env.emu.CreateUsers([]emulator.SeedUser{{Email: fmt.Sprintf("u%d@example.com", n)}})
			if err != nil {
				t.Fatal(err)
			}
			created[ids[0]] = true
		}
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d connections (%d of %d users seen): %v", conns, len(seen), len(created), err)
		}
		if ev.Type == "user.created" {
			if !created[ev.User.UserID] {
				t.Fatalf("event for unknown user %s", ev.User.UserID)
			}
			seen[ev.User.UserID] = true
		}
	}
	for i, r := range env.requests("GET", "/api/v2/events") {
		if r.Status != 200 {
			t.Fatalf("connection %d answered %d", i, r.Status)
		}
		if i > 0 && r.LastEventID == "" {
			t.Fatalf("reconnect %d without Last-Event-ID", i)
		}
	}
}
