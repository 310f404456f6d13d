// Package dedupetest is the conformance suite every dedupe.Store must pass.
// It is run against the in-memory store, a real redis-server and miniredis
// (for expiry with a controllable clock).
package dedupetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/dedupe"
)

// Harness builds stores for the suite.
type Harness struct {
	// New returns an empty store whose marks expire after ttl. Each call
	// must return a store that shares nothing with earlier ones.
	New func(t *testing.T, ttl time.Duration) dedupe.Store
	// Advance moves the store's clock forward. When nil, the expiry tests
	// are not part of this run (a real Redis cannot be fast-forwarded; its
	// expiry is covered by a TTL check in the Redis tests instead).
	Advance func(t *testing.T, d time.Duration)
	// Synctest runs every case in a testing/synctest bubble, where the clock
	// is fake: a store on the real clock (time.Now) then needs no clock of
	// its own, and Advance can be time.Sleep. Only for stores that do no
	// network I/O.
	Synctest bool
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	h.run(t, "EmptyBatch", emptyBatch)
	h.run(t, "UnknownIDs", unknownIDs)
	h.run(t, "MarkThenSeen", markThenSeen)
	h.run(t, "MarkIdempotent", markIdempotent)
	h.run(t, "OddIDs", oddIDs)
	h.run(t, "LargeBatch", largeBatch)
	h.run(t, "Isolation", isolation)
	h.run(t, "CancelledContext", cancelled)
	h.run(t, "Concurrent", concurrent)
	if h.Advance != nil {
		h.run(t, "Expiry", expiry)
		h.run(t, "MarkDoesNotExtend", markDoesNotExtend)
		h.run(t, "SeenRefreshes", seenRefreshes)
	}
}

// run runs one case as a subtest, in a synctest bubble when h asks for one.
func (h Harness) run(t *testing.T, name string, f func(*testing.T, Harness)) {
	t.Run(name, func(t *testing.T) {
		if h.Synctest {
			synctest.Test(t, func(t *testing.T) { f(t, h) })
			return
		}
		f(t, h)
	})
}

const ttl = time.Hour

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func seen(t *testing.T, s dedupe.Store, ids ...string) []bool {
	t.Helper()
	got, err := s.Seen(ctx(t), ids)
	if err != nil {
		t.Fatalf("Seen: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("Seen returned %d results for %d ids", len(got), len(ids))
	}
	return got
}

func mark(t *testing.T, s dedupe.Store, ids ...string) {
	t.Helper()
	if err := s.Mark(ctx(t), ids); err != nil {
		t.Fatalf("Mark: %v", err)
	}
}

func want(t *testing.T, what string, got, want []bool) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: seen %v, want %v", what, got, want)
	}
}

func emptyBatch(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	if got := seen(t, s); len(got) != 0 {
		t.Fatalf("Seen(nil) = %v", got)
	}
	mark(t, s)
	if got := seen(t, s, []string{}...); len(got) != 0 {
		t.Fatalf("Seen([]) = %v", got)
	}
}

func unknownIDs(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	want(t, "fresh store", seen(t, s, "auth0|a@2026-01-01T00:00:00.000Z", "auth0|b@2026-01-01T00:00:00.000Z"), []bool{false, false})
}

func markThenSeen(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	mark(t, s, "a", "c")
	want(t, "after marking a and c", seen(t, s, "a", "b", "c", "a", "d"), []bool{true, false, true, true, false})
	mark(t, s, "b")
	want(t, "after marking b", seen(t, s, "d", "c", "b", "a"), []bool{false, true, true, true})
}

func markIdempotent(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	mark(t, s, "x", "x")
	mark(t, s, "x")
	want(t, "marked three times", seen(t, s, "x"), []bool{true})
}

func oddIDs(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	ids := []string{
		"auth0|65f1c0de0123456789abcdef@2026-03-01T10:00:00.123Z",
		"google-oauth2|1234567890@2026-03-01T10:00:00.123Z",
		"auth0|with space@2026", "auth0|ünïcødé@2026", "x:y:seen:z", "{tag}@1", "*", "", "\x00nul",
	}
	mark(t, s, ids...)
	all := make([]bool, len(ids))
	for i := range all {
		all[i] = true
	}
	want(t, "odd ids", seen(t, s, ids...), all)
	// Same user, other created_at (deleted and re-created): a new event id.
	want(t, "re-created user", seen(t, s, "auth0|65f1c0de0123456789abcdef@2026-03-02T10:00:00.000Z", "auth0|with"), []bool{false, false})
}

func largeBatch(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("auth0|%024d@2026-01-01T00:00:00.000Z", i)
	}
	mark(t, s, ids[:500]...)
	got := seen(t, s, ids...)
	for i, g := range got {
		if g != (i < 500) {
			t.Fatalf("id %d: seen %v", i, g)
		}
	}
}

func isolation(t *testing.T, h Harness) {
	a, b := h.New(t, ttl), h.New(t, ttl)
	mark(t, a, "shared-id")
	want(t, "other store", seen(t, b, "shared-id"), []bool{false})
}

func cancelled(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Seen(c, []string{"a"}); err == nil {
		t.Fatal("Seen with a cancelled context: no error")
	}
	if err := s.Mark(c, []string{"a"}); err == nil {
		t.Fatal("Mark with a cancelled context: no error")
	}
	// A failed Mark must not have marked (the caller will retry the publish).
	want(t, "after cancelled mark", seen(t, s, "a"), []bool{false})
}

func concurrent(t *testing.T, h Harness) {
	s := h.New(t, ttl)
	const workers, per = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < per; i += 20 {
				batch := make([]string, 0, 20)
				for j := i; j < i+20; j++ {
					// Overlapping ids between neighbouring workers.
					batch = append(batch, fmt.Sprintf("u%d", (w*per/2)+j))
				}
				if _, err := s.Seen(context.Background(), batch); err != nil {
					errs <- err
					return
				}
				if err := s.Mark(context.Background(), batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < (workers-1)*per/2+per; i++ {
		ids = append(ids, fmt.Sprintf("u%d", i))
	}
	for i, g := range seen(t, s, ids...) {
		if !g {
			t.Fatalf("u%d not seen after concurrent marks", i)
		}
	}
}

func expiry(t *testing.T, h Harness) {
	s := h.New(t, 10*time.Second)
	mark(t, s, "e", "f")
	h.Advance(t, 9*time.Second)
	want(t, "before the TTL", seen(t, s, "f"), []bool{true})
	h.Advance(t, 2*time.Second)
	want(t, "after the TTL", seen(t, s, "e"), []bool{false})
	mark(t, s, "e")
	want(t, "marked again after expiry", seen(t, s, "e"), []bool{true})
}

func markDoesNotExtend(t *testing.T, h Harness) {
	s := h.New(t, 10*time.Second)
	mark(t, s, "n")
	h.Advance(t, 6*time.Second)
	mark(t, s, "n") // NX: keeps the first expiry
	h.Advance(t, 5*time.Second)
	want(t, "TTL counted from the first mark", seen(t, s, "n"), []bool{false})
}

// seenRefreshes: an id found seen again has its TTL counted afresh
// (README "Bad data"), so a user who stays in the search window is never
// republished when the TTL runs out; an id not found is not created.
func seenRefreshes(t *testing.T, h Harness) {
	s := h.New(t, 10*time.Second)
	mark(t, s, "r")
	h.Advance(t, 8*time.Second)
	want(t, "found again", seen(t, s, "r", "absent"), []bool{true, false})
	h.Advance(t, 8*time.Second) // 16s after the mark, 8s after the refresh
	want(t, "kept by the refresh", seen(t, s, "r", "absent"), []bool{true, false})
	h.Advance(t, 11*time.Second)
	want(t, "expired 10s after the last refresh", seen(t, s, "r"), []bool{false})
}
