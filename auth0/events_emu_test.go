package auth0_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// The stream survives server cycling, forced disconnects and the server
// going away for a moment, and no event is lost.
func TestEventsSurviveDisconnectsNoLoss(t *testing.T) {
	env := newEnv(t, emulator.Config{Knobs: emulator.Knobs{
		EventsCycle: 300 * time.Millisecond, EventsHeartbeat: 50 * time.Millisecond,
		EventsRetry: 20 * time.Millisecond, EventsRedeliver: 0.5,
	}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Types: []string{"user.created"}, FromTimestamp: time.Now().Add(-time.Minute), Reconnect: true})
	if err != nil {
		t.Fatalf("SubscribeEvents: %v", err)
	}
	defer s.Close()

	const total = 150
	var (
		mu      sync.Mutex
		created = map[string]bool{}
	)
	producerDone := make(chan error, 1)
	go func() {
		for i := 0; i < total; i += 10 {
			batch := make([]emulator.SeedUser, 10)
			for j := range batch {
				batch[j] = emulator.SeedUser{Email: fmt.Sprintf("e%d@example.com", i+j)}
			}
			ids, err := env.emu.CreateUsers(batch)
			if err != nil {
				producerDone <- err
				return
			}
			mu.Lock()
			for _, id := range ids {
				created[id] = true
			}
			mu.Unlock()
			before := countOK(env)
			switch (i / 10) % 3 {
			case 0:
				// CloseEventStreams only reaches streams parked waiting for
				// events (an emulator race): repeat until a new connection
				// shows the old one really ended.
				testwait.For(t, 10*time.Second, "a reconnect after CloseEventStreams", func() bool {
					env.emu.CloseEventStreams()
					return countOK(env) > before
				})
			case 1:
				env.srv.Restart() // network drop: connections reset, refused for a moment
				testwait.For(t, 10*time.Second, "a reconnect after a restart", func() bool { return countOK(env) > before })
			}
		}
		producerDone <- nil
	}()

	seen := map[string]int{}
	offsets := 0
	for {
		mu.Lock()
		done := len(created) == total
		missing := 0
		for id := range created {
			if seen[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if done && missing == 0 {
			break
		}
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v (seen %d of %d)", err, len(seen), total)
		}
		if ev.Offset == "" {
			t.Fatalf("event without offset: %+v", ev)
		}
		offsets++
		if s.LastOffset() != ev.Offset {
			t.Fatalf("LastOffset %q, event offset %q", s.LastOffset(), ev.Offset)
		}
		switch ev.Type {
		case "user.created":
			if ev.User == nil || ev.User.UserID == "" || ev.EventID == "" || len(ev.User.Raw) == 0 {
				t.Fatalf("user event without user: %+v", ev)
			}
			seen[ev.User.UserID]++
		case "offset-only":
			if ev.User != nil {
				t.Fatalf("offset-only with user")
			}
		default:
			t.Fatalf("unexpected event type %q", ev.Type)
		}
	}
	if err := <-producerDone; err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	conns := env.requests("GET", "/api/v2/events")
	resumed := 0
	for i, r := range conns {
		if i > 0 && r.Status == 200 {
			if r.LastEventID == "" {
				t.Fatalf("reconnect %d without Last-Event-ID: %+v", i, r)
			}
			resumed++
		}
	}
	if resumed < 5 {
		t.Fatalf("only %d resumed connections; the test did not exercise reconnects", resumed)
	}
	t.Logf("%d users, %d duplicates (re-delivery), %d messages, %d connections", len(seen), dups, offsets, len(conns))
}

func TestEventsErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("insufficient scope", func(t *testing.T) {
		env := newEnv(t, emulator.Config{Clients: []emulator.ClientCredentials{{ID: "c", Secret: "s", Scopes: []string{"read:users"}}}}, nil)
		_, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Reconnect: true})
		if !errors.Is(err, auth0.ErrInsufficientScope) || errors.Is(err, auth0.ErrConnectionLimit) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no events API", func(t *testing.T) {
		env := newEnv(t, emulator.Config{Knobs: emulator.Knobs{EventsDisabled: true}}, nil)
		_, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Reconnect: true})
		var ae *auth0.APIError
		if !errors.As(err, &ae) || ae.Status != 404 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		env := newEnv(t, emulator.Config{Knobs: emulator.Knobs{EventsMaxConnections: 1}}, nil)
		first, err := env.c.SubscribeEvents(ctx, auth0.EventParams{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.c.SubscribeEvents(ctx, auth0.EventParams{})
		if !errors.Is(err, auth0.ErrConnectionLimit) || errors.Is(err, auth0.ErrInsufficientScope) {
			t.Fatalf("err = %v", err)
		}
		// With Reconnect it backs off and gets in once the slot frees.
		got := make(chan error, 1)
		go func() {
			s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Reconnect: true})
			if s != nil {
				s.Close()
			}
			got <- err
		}()
		testwait.For(t, 10*time.Second, "a refused retry", func() bool {
			n := 0
			for _, r := range env.requests("GET", "/api/v2/events") {
				if r.Status == 403 {
					n++
				}
			}
			return n >= 2
		})
		first.Close()
		if err := <-got; err != nil {
			t.Fatalf("with Reconnect: %v", err)
		}
	})
	t.Run("cursor expired", func(t *testing.T) { synctest.Test(t, testCursorExpired) })
	t.Run("offset the server cannot place", func(t *testing.T) {
		env := newEnv(t, emulator.Config{}, nil)
		_, err := env.c.SubscribeEvents(ctx, auth0.EventParams{LastEventID: "not-an-offset", Reconnect: true})
		if !errors.Is(err, auth0.ErrInvalidCursor) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not reconnecting ends at server close", func(t *testing.T) {
		env := newEnv(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 20 * time.Millisecond}}, nil)
		s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
		for {
			env.emu.CloseEventStreams() // repeated: see TestEventsSurviveDisconnectsNoLoss
			_, err := s.Next(ctx)
			if err == nil {
				continue
			}
			if !errors.Is(err, auth0.ErrStreamClosed) {
				t.Fatalf("err = %v", err)
			}
			break
		}
	})
	t.Run("Close unblocks Next", func(t *testing.T) {
		env := newEnv(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: time.Hour}}, nil)
		s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Reconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := s.Next(ctx); done <- err }()
		s.Close()
		if err := <-done; !errors.Is(err, auth0.ErrStreamClosed) {
			t.Fatalf("err = %v", err)
		}
	})
}

// countOK counts event-stream connections the emulator accepted.
func countOK(env *testEnv) int {
	n := 0
	for _, r := range env.requests("GET", "/api/v2/events") {
		if r.Status == 200 {
			n++
		}
	}
	return n
}

// A cursor older than the retention is refused with 410 on resume.
func testCursorExpired(t *testing.T) {
	ctx := context.Background()
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{EventsRetention: time.Hour, EventsHeartbeat: 20 * time.Millisecond}}, nil)
	if _, err := env.emu.CreateUsers([]emulator.SeedUser{{Email: "x@example.com"}}); err != nil {
		t.Fatal(err)
	}
	s, err := env.c.SubscribeEvents(ctx, auth0.EventParams{FromTimestamp: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Next(ctx)
	if err != nil || ev.Type != "user.created" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	s.Close()
	time.Sleep(2 * time.Hour)
	_, err = env.c.SubscribeEvents(ctx, auth0.EventParams{LastEventID: ev.Offset, Reconnect: true})
	var ae *auth0.APIError
	if !errors.Is(err, auth0.ErrCursorExpired) || !errors.As(err, &ae) || ae.Status != 410 {
		t.Fatalf("err = %v", err)
	}
}
