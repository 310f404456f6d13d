package auth0_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/auth0-worker/auth0-worker/auth0"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

func TestUsersCRUDAgainstEmulator(t *testing.T) {
	env := newEnv(t, emulator.Config{}, nil)
	ctx := context.Background()
	u, err := env.c.CreateUser(ctx, json.RawMessage(`{"connection":"Username-Password-Authentication","email":"Ann@Example.com","password":"Passw0rd!x","user_metadata":{"a":1}}`))
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.UserID == "" || u.Email != "ann@example.com" || u.CreatedAt == "" || len(u.Identities) != 1 || len(u.Raw) == 0 {
		t.Fatalf("created user %+v", u)
	}
	got, err := env.c.GetUser(ctx, u.UserID)
	if err != nil || got.UserID != u.UserID {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	// The id travels percent-encoded with | as %7C.
	gets := env.requests("GET", "/api/v2/users/")
	if len(gets) != 1 || gets[0].Path != "/api/v2/users/"+auth0.EscapeID(u.UserID) || auth0.EscapeID(u.UserID)[5:8] != "%7C" {
		t.Fatalf("GET requests %+v", gets)
	}
	up, err := env.c.UpdateUser(ctx, u.UserID, json.RawMessage(`{"user_metadata":{"b":2}}`))
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	var raw map[string]any
	_ = json.Unmarshal(up.Raw, &raw)
	if md, _ := raw["user_metadata"].(map[string]any); md["a"] == nil || md["b"] == nil {
		t.Fatalf("metadata not merged: %s", up.Raw)
	}
	byEmail, err := env.c.UsersByEmail(ctx, "ann@example.com")
	if err != nil || len(byEmail) != 1 {
		t.Fatalf("UsersByEmail = %v, %v", byEmail, err)
	}
	none, err := env.c.UsersByEmail(ctx, "nobody@example.com")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("UsersByEmail(none) = %#v, %v", none, err)
	}
	_, err = env.c.CreateUser(ctx, json.RawMessage(`{"connection":"Username-Password-Authentication","email":"ann@example.com","password":"Passw0rd!x"}`))
	var ae *auth0.APIError
	if !errors.As(err, &ae) || ae.Status != 409 || len(ae.Body) == 0 {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := env.c.DeleteUser(ctx, u.UserID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if err := env.c.DeleteUser(ctx, u.UserID); err != nil {
		t.Fatalf("DeleteUser again: %v", err)
	}
	_, err = env.c.GetUser(ctx, u.UserID)
	if !errors.Is(err, auth0.ErrNotFound) || !errors.As(err, &ae) || ae.ErrorCode != "inexistent_user" {
		t.Fatalf("GetUser after delete: %v", err)
	}
	// Odd ids stay one path segment.
	_, err = env.c.GetUser(ctx, "auth0|a/b?c#d e")
	if !errors.Is(err, auth0.ErrNotFound) {
		t.Fatalf("GetUser(odd id): %v", err)
	}
	last := env.requests("GET", "/api/v2/users/")
	if p := last[len(last)-1].Path; p != "/api/v2/users/auth0%7Ca%2Fb%3Fc%23d%20e" {
		t.Fatalf("odd id path %q", p)
	}
}

func TestSearchPagingStopsAtCap(t *testing.T) {
	env := newEnv(t, emulator.Config{}, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seed := make([]emulator.SeedUser, 1234)
	for i := range seed {
		seed[i] = emulator.SeedUser{CreatedAt: base.Add(time.Duration(i) * time.Millisecond), Indexed: true, NoEvent: true}
	}
	if _, err := env.emu.CreateUsers(seed); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	it := env.c.SearchAll(auth0.SearchParams{Query: "created_at:[2026-01-01T00:00:00.000Z TO *]", Sort: "created_at:1"})
	n := 0
	prev := ""
	for it.Next(ctx) {
		u := it.User()
		if u.CreatedAt < prev {
			t.Fatalf("not sorted: %s after %s", u.CreatedAt, prev)
		}
		prev = u.CreatedAt
		n++
	}
	if it.Err() != nil {
		t.Fatalf("Err: %v", it.Err())
	}
	if n != auth0.SearchCap || !it.Capped() || it.Total() != 1234 {
		t.Fatalf("read %d, capped %v, total %d", n, it.Capped(), it.Total())
	}
	pages := env.requests("GET", "/api/v2/users")
	if len(pages) != 10 {
		t.Fatalf("%d page requests, want 10", len(pages))
	}
	for _, p := range pages {
		if p.Status != 200 {
			t.Fatalf("page %s answered %d", p.Query, p.Status)
		}
	}

	// A result under the cap: stops at the short page, not capped.
	env.emu.ResetRequests()
	it = env.c.SearchAll(auth0.SearchParams{Query: "created_at:[2026-01-01T00:00:00.000Z TO 2026-01-01T00:00:00.249Z]"})
	n = 0
	for it.Next(ctx) {
		n++
	}
	if it.Err() != nil || n != 250 || it.Capped() || it.Total() != 250 {
		t.Fatalf("read %d, capped %v, total %d, err %v", n, it.Capped(), it.Total(), it.Err())
	}
	if got := len(env.requests("GET", "/api/v2/users")); got != 3 {
		t.Fatalf("%d page requests, want 3", got)
	}

	// A page past the cap is refused before anything is sent.
	env.emu.ResetRequests()
	if _, err := env.c.SearchUsers(ctx, auth0.SearchParams{Page: 10, PerPage: 100}); !errors.Is(err, auth0.ErrInvalidRequest) {
		t.Fatalf("page 10: %v", err)
	}
	if got := len(env.emu.Requests()); got != 0 {
		t.Fatalf("%d requests reached the emulator", got)
	}
}
