package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// Issue 4 "exactly once, search source" at the size: ~3,000 users
// over ~11 s with random index lag up to 3 s; 1,500 of them within one second,
// of which 300 share one created_at millisecond.
func TestSearchSourceExactlyOnceEmulator(t *testing.T) {
	r := newRig(t, emulator.Knobs{IndexLagMax: 3 * time.Second})
	p, _ := r.poller(Options{Source: SourceSearch, Interval: 500 * time.Millisecond, Overlap: 5 * time.Second}, "")
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	var ids []string
	same := time.Now().Truncate(time.Millisecond)
	ids = append(ids, seed(t, r.srv.Emulator, "tie", 300, func(int) time.Time { return same }, false)...)
	ids = append(ids, seed(t, r.srv.Emulator, "burst", 1200, func(i int) time.Time { return same.Add(time.Duration(i) * 800 * time.Microsecond) }, false)...)
	for i := 0; i < 10; i++ {
		time.Sleep(time.Second) // creation pace, not synchronisation
		ids = append(ids, seed(t, r.srv.Emulator, fmt.Sprintf("trickle%d-", i), 150, nil, false)...)
	}
	r.expectExactlyOnce(ids, 45*time.Second)
	if n, searches := pastCap(r.srv.Emulator.Requests()); n != 0 || searches == 0 {
		t.Fatalf("%d of %d searches past the cap", n, searches)
	}
}

// Events source with cycling every 2 s and re-delivery.
func TestEventsSourceExactlyOnceEmulator(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsCycle: 2 * time.Second, EventsRedeliver: 1, EventsHeartbeat: 200 * time.Millisecond})
	p, m := r.poller(Options{Source: SourceEvents}, "")
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, seed(t, r.srv.Emulator, fmt.Sprintf("e%d-", i), 100, nil, false)...)
		time.Sleep(500 * time.Millisecond) // creation pace across cycles
	}
	r.expectExactlyOnce(ids, 10*time.Second)
	resumed := 0
	for _, q := range r.srv.Emulator.Requests() {
		if q.Path == "/api/v2/events" && q.LastEventID != "" {
			resumed++
		}
	}
	if resumed < 2 {
		t.Fatalf("%d resumed connections: the stream did not cycle", resumed)
	}
	if got := value(m.DedupeSkipped); got == 0 {
		t.Fatalf("no re-delivered event was skipped; re-delivery did not happen or was published again")
	}
}

// A user deleted and created again with the same user_id is a new event.
func TestDeletedAndRecreatedUserIsANewEvent(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	p, _ := r.poller(Options{Source: SourceEvents}, "")
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	t0 := time.Now().Truncate(time.Millisecond)
	if _, err := r.srv.Emulator.CreateUsers([]emulator.SeedUser{{UserID: "google-oauth2|42", CreatedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "first event", func() bool { return r.storedUsers()["google-oauth2|42"] == 1 })
	if !r.srv.Emulator.DeleteUser("google-oauth2|42") {
		t.Fatal("delete failed")
	}
	if _, err := r.srv.Emulator.CreateUsers([]emulator.SeedUser{{UserID: "google-oauth2|42", CreatedAt: t0.Add(5 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "second event", func() bool { return r.storedUsers()["google-oauth2|42"] == 2 })
	if d := r.dups(); len(d) > 0 {
		t.Fatalf("an event id stored twice: %v", d)
	}
}

// auto falls back to search when the client lacks read:events, and keeps
// trying events again.
func TestAutoFallsBackOnInsufficientScope(t *testing.T) {
	r := newRig(t, emulator.Knobs{}, emulator.ClientCredentials{ID: "no-events", Secret: "s3cret", Scopes: []string{"read:users"}})
	c := newClient(t, r.srv, "no-events", "s3cret", "")
	p, m := r.poller(Options{Source: SourceAuto, Searcher: c, Events: c, Interval: 200 * time.Millisecond, EventsRetry: time.Second}, "")
	runPoller(t, p)
	testwait.For(t, 5*time.Second, "fallback to search", func() bool {
		return value(m.SourceActive.WithLabelValues(SourceSearch)) == 1
	})
	ids := seed(t, r.srv.Emulator, "fb", 20, nil, false)
	r.expectExactlyOnce(ids, 5*time.Second)
	testwait.For(t, 5*time.Second, "events tried again", func() bool {
		n := 0
		for _, q := range r.srv.Emulator.Requests() {
			if q.Path == "/api/v2/events" && q.Status == 403 {
				n++
			}
		}
		return n >= 2
	})
	if got := value(m.PollCycles.WithLabelValues(SourceEvents, "refused")); got < 1 {
		t.Fatalf("refusals counted %v", got)
	}
}

// A 403 for the concurrent-connection limit is not a refusal: auto keeps
// retrying events (no fallback) and streams once a slot frees up.
func TestAutoRetriesOnConnectionLimit(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsMaxConnections: 1, EventsHeartbeat: 200 * time.Millisecond})
	hogCtx, releaseHog := context.WithCancel(context.Background())
	defer releaseHog()
	hog, err := newClient(t, r.srv, "", "", "hog").SubscribeEvents(hogCtx, auth0.EventParams{Types: []string{"user.created"}})
	if err != nil {
		t.Fatal(err)
	}
	p, m := r.poller(Options{Source: SourceAuto, Interval: 200 * time.Millisecond, EventsRetry: time.Second}, "")
	runPoller(t, p)
	testwait.For(t, 10*time.Second, "refused connections", func() bool {
		n := 0
		for _, q := range r.srv.Emulator.Requests() {
			if q.Path == "/api/v2/events" && q.Status == 403 && q.UserAgent != "hog" {
				n++
			}
		}
		return n >= 2
	})
	if got := value(m.SourceActive.WithLabelValues(SourceSearch)); got != 0 {
		t.Fatal("fell back to search on a connection limit")
	}
	_ = hog.Close()
	releaseHog()
	ids := seed(t, r.srv.Emulator, "cl", 20, nil, false)
	r.expectExactlyOnce(ids, 15*time.Second)
	for _, q := range r.srv.Emulator.Requests() {
		if q.Path == "/api/v2/users" {
			t.Fatalf("searched although events only hit the connection limit: %s?%s", q.Path, q.Query)
		}
	}
	if value(m.SourceActive.WithLabelValues(SourceEvents)) != 1 {
		t.Fatal("events source not active")
	}
}

// Reconcile publishes a user the stream never delivered and counts it.
func TestReconcilePublishesWhatTheStreamMissed(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	p, m := r.poller(Options{Source: SourceEvents, ReconcileInterval: 500 * time.Millisecond}, "")
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	missed := seed(t, r.srv.Emulator, "missed", 1, func(int) time.Time { return time.Now().Add(-90 * time.Second) }, true)
	streamed := seed(t, r.srv.Emulator, "streamed", 3, nil, false)
	r.expectExactlyOnce(append(missed, streamed...), 10*time.Second)
	testwait.For(t, 2*time.Second, "reconcile_found to count it", func() bool { return value(m.ReconcileFound) >= 1 })
	if got := value(m.ReconcileFound); got != 1 {
		t.Fatalf("reconcile_found = %v, want 1", got)
	}
	if got := value(m.UsersPublished.WithLabelValues(SourceReconcile, "created")); got != 1 {
		t.Fatalf("users_published{source=reconcile} = %v, want 1", got)
	}
}

// POLL_START=all: a backfill of 25,000 existing users (the size, far
// beyond the 1000 cap; 400 share one millisecond), exactly once, then new
// users from the stream.
func TestBackfillAllThenFollow(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	old := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Millisecond)
	ids := seed(t, r.srv.Emulator, "old", 25000, func(i int) time.Time {
		if i < 400 {
			return old // 400 share one millisecond
		}
		return old.Add(time.Duration(i) * 10 * time.Second)
	}, true)
	p, _ := r.poller(Options{Source: SourceEvents, Start: pollstart.Start{Mode: pollstart.All}}, "")
	runPoller(t, p)
	r.expectExactlyOnce(ids, 60*time.Second)
	fresh := seed(t, r.srv.Emulator, "new", 50, nil, false)
	r.expectExactlyOnce(append(ids, fresh...), 10*time.Second)
	n, searches := pastCap(r.srv.Emulator.Requests())
	if n != 0 {
		t.Fatalf("%d searches past the cap", n)
	}
	t.Logf("backfill of %d users took %d searches", len(ids), searches)
}

// A backfill interrupted by a crash resumes on the next leader (from the
// stream's newest event and the search cursor): still exactly once.
func TestBackfillResumesAfterCrash(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	old := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Millisecond)
	ids := seed(t, r.srv.Emulator, "bf", 4000, func(i int) time.Time { return old.Add(time.Duration(i) * time.Minute) }, true)
	o := Options{Source: SourceEvents, Start: pollstart.Start{Mode: pollstart.All}, ReconcileInterval: 500 * time.Millisecond}
	a, _ := r.poller(o, "replica-a")
	runPoller(t, a)
	testwait.For(t, 20*time.Second, "part of the backfill", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.users) >= 1000
	})
	crash(t, a)
	r.mu.Lock()
	at := len(r.users)
	r.mu.Unlock()
	if at >= len(ids) {
		t.Fatalf("backfill finished before the crash (%d users); the test needs a slower start", at)
	}
	b, _ := r.poller(o, "replica-b")
	runPoller(t, b)
	r.expectExactlyOnce(ids, 20*time.Second)
	fresh := seed(t, r.srv.Emulator, "bfnew", 20, nil, false)
	r.expectExactlyOnce(append(ids, fresh...), 10*time.Second)
	t.Logf("crashed after %d of %d users", at, len(ids))
}
