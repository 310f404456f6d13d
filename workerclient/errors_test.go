package workerclient_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/auth0-worker/auth0-worker/consumer"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
	"github.com/auth0-worker/auth0-worker/workerclient"
)

// wantErr asserts err is a *workerclient.Error of status and code that
// errors.Is matches against every sentinel in is, and returns it.
func wantErr(t *testing.T, err error, status int, code string, is ...error) *workerclient.Error {
	t.Helper()
	var we *workerclient.Error
	if !errors.As(err, &we) {
		t.Fatalf("want a *workerclient.Error %d %s, got %v", status, code, err)
	}
	if we.Status != status || we.Code != code || we.Message == "" {
		t.Fatalf("want %d %s, got %+v", status, code, we)
	}
	for _, s := range is {
		if !errors.Is(err, s) {
			t.Fatalf("errors.Is(%v, %v) is false", err, s)
		}
	}
	if errors.Is(err, workerclient.ErrOverloaded) && code != "overloaded" {
		t.Fatalf("a %s error matches ErrOverloaded", code)
	}
	return we
}

// TestErrorStatuses provokes each status a real worker answers and checks
// the typed error: status, code, message, Auth0's body, errors.Is/As.
func TestErrorStatuses(t *testing.T) {
	w := startWorker(t)
	ctx := ctxT(t)
	em := w.em.Emulator

	_, err := w.c.CreateUser(ctx, workerclient.CreateUserRequest{Email: "x@example.com"})
	we := wantErr(t, err, 400, "invalid_command", workerclient.ErrBadRequest, workerclient.ErrInvalidCommand)
	if !strings.Contains(we.Message, `"connection"`) || we.Auth0 != nil || we.Temporary() {
		t.Fatalf("invalid command: %+v", we)
	}

	_, err = w.c.CreateUser(ctx, workerclient.CreateUserRequest{Connection: conn, Email: "nopw@example.com"})
	we = wantErr(t, err, 400, "auth0_bad_request", workerclient.ErrBadRequest)
	if errors.Is(err, workerclient.ErrInvalidCommand) || len(we.Auth0) == 0 {
		t.Fatalf("Auth0's 400: %+v", we)
	}

	_, err = w.c.APICall(ctx, workerclient.APIRequest{Method: "DELETE", Path: "/users/auth0%7C1"})
	wantErr(t, err, 403, "not_allowed", workerclient.ErrForbidden, workerclient.ErrNotAllowed)

	_, err = w.c.UpdateUser(ctx, workerclient.UpdateUserRequest{UserID: "auth0|nobody", Name: ptr("x")})
	wantErr(t, err, 404, "not_found", workerclient.ErrNotFound)

	req := workerclient.CreateUserRequest{Connection: conn, Email: "dup@example.com", Password: "Secret-123!"}
	if _, err := w.c.CreateUser(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err = w.c.CreateUser(ctx, req)
	we = wantErr(t, err, 409, "conflict", workerclient.ErrConflict)
	if !strings.Contains(string(we.Auth0), "auth0_idp_error") {
		t.Fatalf("409 without Auth0's body: %s", we.Auth0)
	}

	em.SetKnobs(func(k *emulator.Knobs) { k.FaultRate = 1 })
	_, err = w.c.GetUser(ctx, "auth0|x")
	we = wantErr(t, err, 502, "auth0_error", workerclient.ErrBadGateway)
	if !we.Temporary() {
		t.Fatal("a 502 auth0_error is temporary")
	}
	em.SetKnobs(func(k *emulator.Knobs) { k.FaultRate = 0; k.Latency = 4 * time.Second })
	_, err = w.c.GetUser(ctx, "auth0|x")
	wantErr(t, err, 504, "timeout", workerclient.ErrCommandTimeout)
	em.SetKnobs(func(k *emulator.Knobs) { k.Latency = 0 })

	w.em.Stop()
	_, err = w.c.GetUser(ctx, "auth0|x")
	wantErr(t, err, 503, "auth0_unavailable", workerclient.ErrUnavailable)
	if err := w.em.Start(); err != nil {
		t.Fatal(err)
	}

	// A frozen clock never refills the drained bucket: every retry meets 429.
	w.clock.freeze(true)
	em.SetKnobs(func(k *emulator.Knobs) { k.RateLimit = 1; k.RateBurst = 1 })
	var last error
	for range 3 { // the first may take the bucket's only token
		if _, last = w.c.GetUser(ctx, "auth0|x"); errors.Is(last, workerclient.ErrRateLimited) {
			break
		}
	}
	we = wantErr(t, last, 429, "rate_limited", workerclient.ErrRateLimited)
	if !we.Temporary() || len(we.Auth0) == 0 {
		t.Fatalf("429: %+v", we)
	}
}

// TestOverloadedAndTooLarge: a worker with one executor and a queue of one
// answers a burst 503 overloaded; on a server with a 64 KiB max payload a
// large user is a 413 for a read, a truncated success for a change, and a
// truncated event.
func TestOverloadedAndTooLarge(t *testing.T) {
	w := startWorkerWith(t, workerOpts{
		nats:     []testnats.Option{func(o *server.Options) { o.MaxPayload = 64 << 10 }},
		consumer: func(o *consumer.Options) { o.Concurrency, o.QueueSize = 1, 1 },
	})
	ctx := ctxT(t)
	ids, err := w.em.Emulator.CreateUsers([]emulator.SeedUser{{
		Email: "big@example.com", NoEvent: true,
		Fields: map[string]any{"user_metadata": map[string]any{"blob": strings.Repeat("x", 100<<10)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.c.GetUser(ctx, ids[0])
	we := wantErr(t, err, 413, "reply_too_large", workerclient.ErrTooLarge, workerclient.ErrReplyTooLarge)
	if we.Temporary() {
		t.Fatal("413 is not temporary")
	}
	u, err := w.c.UpdateUser(ctx, workerclient.UpdateUserRequest{UserID: ids[0], Name: ptr("Big")})
	if err != nil || !u.Truncated || u.UserID != ids[0] {
		t.Fatalf("a change too large to reply: %+v, %v", u, err)
	}

	api, err := w.c.APICall(ctx, workerclient.APIRequest{Method: "PATCH", Path: "/users/" + strings.ReplaceAll(ids[0], "|", "%7C"), Body: map[string]any{"nickname": "big"}})
	if err != nil || !api.Truncated || api.Status != 200 || api.Body != nil {
		t.Fatalf("an api.call change too large to reply: %+v, %v", api, err)
	}

	// The same large user, created with an event: the trigger publishes it
	// truncated (auth0truncated), and the decoder says so.
	big, err := w.em.Emulator.CreateUsers([]emulator.SeedUser{{
		Email: "bigger@example.com", Fields: map[string]any{"user_metadata": map[string]any{"blob": strings.Repeat("y", 100<<10)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := eventOf(t, w, big[0])
	schemacheck.CheckEvent(t, m.Data())
	ev, err := workerclient.DecodeEvent(m.Data())
	if err != nil || !ev.Truncated || ev.User.UserID != big[0] || ev.User.Email != "bigger@example.com" || ev.User.UserMetadata != nil {
		t.Fatalf("truncated event: %+v, %v", ev, err)
	}

	w.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.Latency = 500 * time.Millisecond })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range cap(errs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.c.GetUser(ctx, "auth0|nobody")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	overloaded := 0
	for err := range errs {
		if errors.Is(err, workerclient.ErrOverloaded) {
			wantErr(t, err, 503, "overloaded", workerclient.ErrUnavailable)
			overloaded++
		} else if !errors.Is(err, workerclient.ErrNotFound) && !errors.Is(err, workerclient.ErrCommandTimeout) {
			t.Fatalf("burst: %v", err)
		}
	}
	if overloaded == 0 {
		t.Fatal("8 requests at once on 1 executor with a queue of 1: none was overloaded")
	}
}
