package auth0_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
)

// newMemEnv is newEnv over an in-memory emulator, for a test inside a
// synctest bubble: the client, its token cache and rate gate, and the
// emulator all run on the bubble's fake clock, so waiting for a reset or an
// expiry costs no real time.
func newMemEnv(t testing.TB, ecfg emulator.Config, mod func(*auth0.Config)) *testEnv {
	t.Helper()
	return newEnv(t, ecfg, mod, emulatortest.InMemory())
}

func seedOne(t *testing.T, emu *emulator.Emulator) string {
	t.Helper()
	ids, err := emu.CreateUsers([]emulator.SeedUser{{Email: "seed@example.com", Indexed: true, NoEvent: true}})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

func statuses(rs []emulator.LoggedRequest) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Status)
	}
	return out
}

// The token is refreshed before it expires: no request meets a 401.
func TestTokenRefreshBeforeExpiry(t *testing.T) { synctest.Test(t, testTokenRefreshBeforeExpiry) }

func testTokenRefreshBeforeExpiry(t *testing.T) {
	env := newMemEnv(t, emulator.Config{TokenLifetime: time.Hour}, nil)
	id := seedOne(t, env.emu)
	ctx := context.Background()
	if _, err := env.c.GetUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(59 * time.Minute) // inside the refresh margin (a tenth of the lifetime)
	if _, err := env.c.GetUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Hour) // long expired
	if _, err := env.c.GetUser(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := len(env.requests("POST", "/oauth/token")); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
	for _, s := range statuses(env.requests("GET", "/api/v2/")) {
		if s != 200 {
			t.Fatalf("API statuses %v: a request met an expired token", statuses(env.requests("GET", "/api/v2/")))
		}
	}
}

// A token Auth0 refuses (expired on its clock, not ours) is replaced once.
func TestTokenRefreshOn401(t *testing.T) { synctest.Test(t, testTokenRefreshOn401) }

func testTokenRefreshOn401(t *testing.T) {
	// Auth0's clock runs ahead of ours by skew: one bubble has one clock,
	// and this test needs two that disagree.
	var skew atomic.Int64
	auth0Now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	env := newMemEnv(t, emulator.Config{Now: auth0Now, TokenLifetime: time.Hour}, nil)
	id := seedOne(t, env.emu)
	ctx := context.Background()
	if err := env.c.EnsureToken(ctx); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(2 * time.Hour)) // Auth0 thinks the token expired; the client does not
	if _, err := env.c.GetUser(ctx, id); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got := statuses(env.requests("GET", "/api/v2/")); fmt.Sprint(got) != "[401 200]" {
		t.Fatalf("statuses %v, want [401 200]", got)
	}
	if n := len(env.requests("POST", "/oauth/token")); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
}

func TestWrongSecretIsTokenErrorWithoutSecret(t *testing.T) {
	synctest.Test(t, testWrongSecretIsTokenErrorWithoutSecret)
}

func testWrongSecretIsTokenErrorWithoutSecret(t *testing.T) {
	env := newMemEnv(t, emulator.Config{}, func(c *auth0.Config) { c.ClientSecret = "s3cr3t-value-xyz" })
	_, err := env.c.GetUser(context.Background(), "auth0|1")
	var te *auth0.TokenError
	if !errors.As(err, &te) || te.Status != 401 || te.Code == "" {
		t.Fatalf("err = %v", err)
	}
	if contains(err.Error(), "s3cr3t-value-xyz") {
		t.Fatalf("secret in error: %v", err)
	}
	if n := len(env.requests("", "/api/v2/")); n != 0 {
		t.Fatalf("%d API requests without a token", n)
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// After a 429 nothing is sent before the time Auth0 gave, then the call succeeds.
func TestRateLimit429WaitsForReset(t *testing.T) {
	for _, retryAfter := range []float64{0, 1} {
		t.Run(fmt.Sprintf("retry_after_%v", retryAfter), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{RateLimit: 2, RateBurst: 2, RetryAfterProbability: retryAfter}}, func(c *auth0.Config) { c.UserAgent = "client-b" })
				id := seedOne(t, env.emu)
				ctx := context.Background()
				// Another process drains the bucket, so this client meets a 429
				// it could not foresee.
				other, err := auth0.New(auth0.Config{BaseURL: env.srv.URL, ClientID: env.srv.ClientID, ClientSecret: env.srv.ClientSecret, UserAgent: "client-a", MaxRetries: 1, HTTPClient: env.srv.Client()})
				if err != nil {
					t.Fatal(err)
				}
				if err := env.c.EnsureToken(ctx); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 2; i++ {
					if _, err := other.GetUser(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := env.c.GetUser(ctx, id); err != nil {
					t.Fatalf("GetUser: %v", err)
				}
				ex := env.ct.exchanges()
				var saw429 bool
				var notBefore time.Time
				for _, e := range ex {
					if e.Path == "/oauth/token" {
						continue
					}
					if !notBefore.IsZero() && e.Sent.Before(notBefore) {
						t.Fatalf("request sent at %v, before the reset %v", e.Sent, notBefore)
					}
					if e.Status == 429 {
						saw429 = true
						reset, _ := strconv.ParseInt(e.Header.Get("X-RateLimit-Reset"), 10, 64)
						notBefore = time.Unix(reset, 0)
						if ra, err := strconv.Atoi(e.Header.Get("Retry-After")); err == nil {
							if at := e.Answered.Add(time.Duration(ra)*time.Second - time.Second); at.After(notBefore) {
								notBefore = at // Retry-After counts from the answer (whole seconds, rounded up by the emulator)
							}
						}
					}
				}
				if !saw429 {
					t.Fatal("the client never met a 429; the test proves nothing")
				}
				// The emulator's own log agrees: client-b's request after its
				// 429 arrived at or after the reset.
				var last429 time.Time
				for _, r := range env.emu.Requests() {
					if r.UserAgent != "client-b" || r.Path == "/oauth/token" {
						continue
					}
					if r.Status == 429 {
						last429 = r.Time
					} else if !last429.IsZero() && r.Time.Before(notBefore) {
						t.Fatalf("emulator log: request at %v before the reset %v", r.Time, notBefore)
					}
				}
				if got := env.requests("GET", "/api/v2/users/"); got[len(got)-1].Status != 200 {
					t.Fatalf("last status %d", got[len(got)-1].Status)
				}
			})
		})
	}
}

// A 503 on a GET is retried.
func TestGet503Retried(t *testing.T) { synctest.Test(t, testGet503Retried) }

func testGet503Retried(t *testing.T) {
	obs := &countingObserver{}
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{FaultRate: 1}}, func(c *auth0.Config) { c.Observer = obs })
	obs.onResp = func(op string, status int) {
		if status == 503 && obs.get("users.get 503") == 2 {
			env.emu.SetKnobs(func(k *emulator.Knobs) { k.FaultRate = 0 })
		}
	}
	id := seedOne(t, env.emu)
	if _, err := env.c.GetUser(context.Background(), id); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got := fmt.Sprint(statuses(env.requests("GET", "/api/v2/users/"))); got != "[503 503 200]" {
		t.Fatalf("statuses %s", got)
	}
}

// A GET that keeps failing gives up after MaxRetries with Auth0's error.
func TestGet503GivesUp(t *testing.T) { synctest.Test(t, testGet503GivesUp) }

func testGet503GivesUp(t *testing.T) {
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{FaultRate: 1}}, func(c *auth0.Config) { c.MaxRetries = 2 })
	_, err := env.c.GetUser(context.Background(), "auth0|x")
	var ae *auth0.APIError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("err = %v", err)
	}
	if n := len(env.requests("GET", "/api/v2/users/")); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

// A create whose attempt timed out is not retried and says the outcome is unknown.
func TestCreateTimeoutIsAmbiguousAndNotRetried(t *testing.T) {
	synctest.Test(t, testCreateTimeoutIsAmbiguousAndNotRetried)
}

func testCreateTimeoutIsAmbiguousAndNotRetried(t *testing.T) {
	env := newMemEnv(t, emulator.Config{}, func(c *auth0.Config) { c.AttemptTimeout = 150 * time.Millisecond })
	ctx := context.Background()
	if err := env.c.EnsureToken(ctx); err != nil {
		t.Fatal(err)
	}
	env.emu.SetKnobs(func(k *emulator.Knobs) { k.Latency = 400 * time.Millisecond })
	_, err := env.c.CreateUser(ctx, json.RawMessage(`{"connection":"Username-Password-Authentication","email":"t@example.com","password":"Passw0rd!x"}`))
	if !errors.Is(err, auth0.ErrAmbiguous) {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline cause", err)
	}
	posts := 0
	for _, e := range env.ct.exchanges() {
		if e.Method == "POST" && e.Path == "/api/v2/users" {
			posts++
		}
	}
	if posts != 1 {
		t.Fatalf("%d POST /users sent, want 1", posts)
	}
}

// A 503 on a create is ambiguous (Auth0 may have processed it): not retried.
func TestCreate503IsAmbiguous(t *testing.T) { synctest.Test(t, testCreate503IsAmbiguous) }

func testCreate503IsAmbiguous(t *testing.T) {
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{FaultRate: 1}}, nil)
	_, err := env.c.CreateUser(context.Background(), json.RawMessage(`{"connection":"Username-Password-Authentication","email":"t@example.com","password":"Passw0rd!x"}`))
	var ae *auth0.APIError
	if !errors.Is(err, auth0.ErrAmbiguous) || !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("err = %v", err)
	}
	if n := len(env.requests("POST", "/api/v2/users")); n != 1 {
		t.Fatalf("%d POSTs, want 1", n)
	}
}

// A 429 on a create was certainly not processed: retried.
func TestCreate429Retried(t *testing.T) { synctest.Test(t, testCreate429Retried) }

func testCreate429Retried(t *testing.T) {
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{RateLimit: 5, RateBurst: 1}}, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := env.c.CreateUser(ctx, json.RawMessage(fmt.Sprintf(`{"connection":"Username-Password-Authentication","email":"u%d@example.com","password":"Passw0rd!x"}`, i)))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := env.emu.UserCount(); n != 4 {
		t.Fatalf("%d users", n)
	}
}

// The network being down: a GET ends wrapping ErrUnavailable; a create is
// retried (the connection was never made) and ends the same way.
func TestUnreachable(t *testing.T) { synctest.Test(t, testUnreachable) }

func testUnreachable(t *testing.T) {
	env := newMemEnv(t, emulator.Config{}, func(c *auth0.Config) { c.MaxRetries = 1 })
	ctx := context.Background()
	if err := env.c.EnsureToken(ctx); err != nil {
		t.Fatal(err)
	}
	env.srv.Stop()
	_, err := env.c.GetUser(ctx, "auth0|1")
	if !errors.Is(err, auth0.ErrUnavailable) {
		t.Fatalf("GetUser: %v", err)
	}
	_, err = env.c.CreateUser(ctx, json.RawMessage(`{"connection":"c"}`))
	if !errors.Is(err, auth0.ErrUnavailable) || errors.Is(err, auth0.ErrAmbiguous) {
		t.Fatalf("CreateUser: %v", err)
	}
}

// 50 goroutines sharing one client against a 10 req/s bucket all get their
// answers, with few 429s.
func TestSharedBudget50Goroutines(t *testing.T) { synctest.Test(t, testSharedBudget50Goroutines) }

func testSharedBudget50Goroutines(t *testing.T) {
	env := newMemEnv(t, emulator.Config{Knobs: emulator.Knobs{RateLimit: 10, RateBurst: 10}}, nil)
	id := seedOne(t, env.emu)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.c.GetUser(ctx, id); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first %v", len(errs), errs[0])
	}
	n429, n200 := 0, 0
	for _, r := range env.requests("GET", "/api/v2/users/") {
		switch r.Status {
		case 429:
			n429++
		case 200:
			n200++
		}
	}
	if n200 != 50 || n429 > 5 {
		t.Fatalf("%d answers, %d 429s", n200, n429)
	}
	t.Logf("50 answers, %d 429s", n429)
}
