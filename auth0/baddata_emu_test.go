package auth0_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
)

// Large responses and bad users against the emulator's fault knobs
// (README "Bad data"). The contract transport is left out where the emulator
// serves deliberately bad data or tens of megabytes.

func plainEnv(t *testing.T, limit int) *testEnv {
	return newEnv(t, emulator.Config{}, func(c *auth0.Config) {
		c.HTTPClient = nil
		c.MaxResponseBytes = limit
	})
}

func plantBig(t *testing.T, e *emulator.Emulator, prefix string, n, pad int, at time.Time) {
	t.Helper()
	for i := range n {
		fu := emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: fmt.Sprintf("auth0|%s%02d", prefix, i), CreatedAt: at.Add(time.Duration(i) * time.Millisecond), Indexed: true}, Pad: pad}
		if _, err := e.CreateFaultUsers([]emulator.FaultUser{fu}); err != nil {
			t.Fatal(err)
		}
	}
}

// A page over the client's bound is requested again in smaller pages that
// tile the same positions, never cut; a single user over it is a typed error.
// (Scaled down: a 1 MiB bound and 300 kB users stand for 40 MiB and 16 MB of
// metadata; the poller's search test reads a real page over 16 MiB whole.)
func TestSearchPageOverLimitReadInSmallerPages(t *testing.T) {
	env := plainEnv(t, 1<<20)
	base := time.Now().Add(-time.Hour)
	var small []emulator.SeedUser
	for i := range 30 {
		small = append(small, emulator.SeedUser{UserID: fmt.Sprintf("auth0|s%02d", i), CreatedAt: base.Add(time.Duration(i) * time.Millisecond), Indexed: true})
	}
	if _, err := env.emu.CreateUsers(small); err != nil {
		t.Fatal(err)
	}
	plantBig(t, env.emu, "big", 6, 300_000, base.Add(10*time.Millisecond+500*time.Microsecond))
	page, err := env.c.SearchUsers(context.Background(), auth0.SearchParams{Sort: "created_at:1", PerPage: 100})
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if len(page.Users) != 36 || page.Total != 36 {
		t.Fatalf("%d users (total %d), want 36", len(page.Users), page.Total)
	}
	for i := 1; i < len(page.Users); i++ {
		if page.Users[i].CreatedAt < page.Users[i-1].CreatedAt {
			t.Fatalf("users out of order at %d", i)
		}
	}
	perPages := map[string]int{}
	for _, r := range env.requests("GET", "/api/v2/users") {
		q, _ := url.ParseQuery(r.Query)
		perPages[q.Get("per_page")]++
	}
	if perPages["100"] != 1 || perPages["50"] == 0 {
		t.Fatalf("per_page of the requests %v: want one 100, then smaller", perPages)
	}

	// One user over the bound on its own.
	one := plainEnv(t, 256<<10)
	plantBig(t, one.emu, "solo", 1, 300_000, base)
	_, err = one.c.GetUser(context.Background(), "auth0|solo00")
	var tl *auth0.ResponseTooLargeError
	if !errors.Is(err, auth0.ErrResponseTooLarge) || !errors.As(err, &tl) || tl.Op != "users.get" || tl.Limit != 256<<10 {
		t.Fatalf("GetUser over the bound: %v", err)
	}
	if _, err := one.c.SearchUsers(context.Background(), auth0.SearchParams{PerPage: 100}); !errors.Is(err, auth0.ErrResponseTooLarge) {
		t.Fatalf("search whose single user is over the bound: %v", err)
	}
}

// One wrongly typed user does not fail its page: it comes back with
// Problem set, the others usable. Before, the whole page failed every cycle.
func TestSearchPageWithUnusableUser(t *testing.T) {
	env := plainEnv(t, 0)
	base := time.Now().Add(-time.Hour)
	fus := []emulator.FaultUser{
		{SeedUser: emulator.SeedUser{UserID: "auth0|a", CreatedAt: base, Indexed: true}},
		{SeedUser: emulator.SeedUser{UserID: "auth0|b", CreatedAt: base.Add(time.Millisecond), Indexed: true}, Set: map[string]json.RawMessage{"created_at": json.RawMessage(`1700000000`)}},
		{SeedUser: emulator.SeedUser{UserID: "auth0|c", CreatedAt: base.Add(2 * time.Millisecond), Indexed: true}},
	}
	if _, err := env.emu.CreateFaultUsers(fus); err != nil {
		t.Fatal(err)
	}
	page, err := env.c.SearchUsers(context.Background(), auth0.SearchParams{Sort: "created_at:1", PerPage: 10})
	if err != nil || len(page.Users) != 3 {
		t.Fatalf("page: %v, %d users", err, len(page.Users))
	}
	if p := page.Users[1].Problem; p == nil || p.Reason != auth0.ReasonBadCreatedAt || p.CreatedAtGiven != "1700000000" || page.Users[1].UserID != "auth0|b" {
		t.Fatalf("bad user: %+v problem %v", page.Users[1].UserID, p)
	}
	if page.Users[0].Problem != nil || page.Users[2].Problem != nil {
		t.Fatalf("good users marked: %v %v", page.Users[0].Problem, page.Users[2].Problem)
	}
}

// An SSE message over the bound is skipped to its end, its offset kept;
// the stream goes on. Before, the stream reconnected forever.
func TestEventsMessageOverLimitSkipped(t *testing.T) {
	env := plainEnv(t, 2<<20)
	fus := []emulator.FaultUser{
		{SeedUser: emulator.SeedUser{UserID: "auth0|huge"}, EventPad: 3 << 20},
		{SeedUser: emulator.SeedUser{UserID: "auth0|after"}},
	}
	if _, err := env.emu.CreateFaultUsers(fus); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := env.c.SubscribeEvents(ctx, auth0.EventParams{Types: []string{"user.created"}, FromTimestamp: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []auth0.Event
	for len(got) < 2 {
		ev, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		if ev.TooLarge || ev.User != nil {
			got = append(got, ev)
		}
	}
	if !got[0].TooLarge || got[0].Offset == "" || got[0].Type != "user.created" || got[0].User != nil {
		t.Fatalf("first: %+v", got[0])
	}
	if got[1].TooLarge || got[1].User.UserID != "auth0|after" || st.LastOffset() != got[1].Offset {
		t.Fatalf("second: too large %v, user %v", got[1].TooLarge, got[1].User)
	}
}
