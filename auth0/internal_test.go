package auth0

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func gateWaiting(g *gate) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// A request already waiting for one 429's reset waits again when a newer
// 429 pushes the reset later.
func TestGateRechecksWhenA429PushesTheResetLater(t *testing.T) {
	synctest.Test(t, testGateRechecksWhenA429PushesTheResetLater)
}

func testGateRechecksWhenA429PushesTheResetLater(t *testing.T) {
	g := newGate()
	ctx := context.Background()
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	g.release(rateInfo{ok: true, remaining: 10, reset: time.Now().Add(time.Second)}, 200)
	_ = g.acquire(ctx) // A
	_ = g.acquire(ctx) // B
	first := time.Now().Add(150 * time.Millisecond)
	g.release(rateInfo{ok: true, remaining: 0, retryAfter: first}, 429)
	got := make(chan time.Time, 1)
	go func() {
		if err := g.acquire(ctx); err != nil {
			t.Error(err)
		}
		got <- time.Now()
	}()
	synctest.Wait()
	if gateWaiting(g) != 1 {
		t.Fatal("the waiter never blocked")
	}
	second := time.Now().Add(600 * time.Millisecond)
	g.release(rateInfo{ok: true, remaining: 0, retryAfter: second}, 429)
	if at := <-got; at.Before(second) {
		t.Fatalf("waiter went at %v, before the newer reset %v", at, second)
	}
}

// With Remaining 0 nothing goes before the reset; after it, one probe.
func TestGateRemainingZeroWaitsForReset(t *testing.T) {
	synctest.Test(t, testGateRemainingZeroWaitsForReset)
}

func testGateRemainingZeroWaitsForReset(t *testing.T) {
	g := newGate()
	ctx := context.Background()
	_ = g.acquire(ctx)
	reset := time.Now().Add(300 * time.Millisecond)
	g.release(rateInfo{ok: true, remaining: 0, reset: reset}, 200)
	_ = g.acquire(ctx)
	if now := time.Now(); now.Before(reset) {
		t.Fatalf("acquired at %v before the reset %v", now, reset)
	}
	// Past the reset with an unknown budget: a second request waits for the probe's answer.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := g.acquire(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second request during the probe: %v", err)
	}
	g.release(rateInfo{ok: true, remaining: 5, reset: time.Now().Add(time.Second)}, 200)
	for i := 0; i < 5; i++ {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Answers without rate headers do not leave the client probing one request
// at a time.
func TestGateWithoutHeaders(t *testing.T) {
	g := newGate()
	ctx := context.Background()
	_ = g.acquire(ctx)
	g.release(rateInfo{}, 200)
	for i := 0; i < 20; i++ {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := g.acquire(cctx)
		cancel()
		if err != nil {
			t.Fatalf("request %d in flight refused: %v", i, err)
		}
	}
}

func TestParseRateInfo(t *testing.T) {
	now := time.Unix(1000, 0)
	h := map[string][]string{"X-Ratelimit-Limit": {"10"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1005"}, "Retry-After": {"9"}}
	ri := parseRateInfo(h, now)
	if !ri.ok || ri.limit != 10 || ri.remaining != 0 || !ri.reset.Equal(time.Unix(1005, 0)) || !ri.retryAt().Equal(time.Unix(1009, 0)) {
		t.Fatalf("%+v", ri)
	}
	ri = parseRateInfo(map[string][]string{"X-Ratelimit-Remaining": {"x"}}, now)
	if ri.ok || !ri.retryAt().IsZero() {
		t.Fatalf("%+v", ri)
	}
}

func TestFlexStringAndUserJSON(t *testing.T) {
	in := `{"user_id":"github|1","email":"a@b.c","created_at":"2023-01-25T19:00:26.187Z","identities":[{"connection":"github","provider":"github","user_id":12345678901234567890,"isSocial":true},{"connection":"x","provider":"x","user_id":"abc","isSocial":false}],"extra":{"k":[1,2]}}`
	var u User
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	if u.Identities[0].UserID != "12345678901234567890" || u.Identities[1].UserID != "abc" || !u.Identities[0].IsSocial {
		t.Fatalf("%+v", u.Identities)
	}
	out, _ := json.Marshal(u)
	if string(out) != in {
		t.Fatalf("MarshalJSON = %s", out)
	}
	// Identities of an unexpected shape pass through (README "Bad data"): only
	// user_id, created_at and email can make a user unusable.
	var odd User
	if err := json.Unmarshal([]byte(`{"user_id":"a|1","created_at":"2023-01-25T19:00:26.187Z","identities":[{"user_id":{}}]}`), &odd); err != nil || odd.Problem != nil || odd.Identities != nil {
		t.Fatalf("err = %v, user %+v", err, odd)
	}
	// A hand-built user marshals its typed fields.
	out, _ = json.Marshal(User{UserID: "auth0|1"})
	if string(out) != `{"user_id":"auth0|1"}` {
		t.Fatalf("%s", out)
	}
}

func TestAPIErrorText(t *testing.T) {
	e := newAPIError(409, []byte(`{"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"}`))
	if e.Error() != "auth0: 409 auth0_idp_error: The user already exists." {
		t.Fatalf("%q", e.Error())
	}
	e = newAPIError(502, []byte("<html>bad gateway</html>"))
	if e.Error() != "auth0: 502: Bad Gateway" || string(e.Body) != "<html>bad gateway</html>" {
		t.Fatalf("%q", e.Error())
	}
	for _, tc := range []struct {
		e    *APIError
		want error
	}{
		{&APIError{Status: 403, ErrorCode: "insufficient_scope"}, ErrInsufficientScope},
		{&APIError{Status: 403, ErrorCode: "too_many_connections"}, ErrConnectionLimit},
		{&APIError{Status: 429}, ErrRateLimited},
		{&APIError{Status: 404}, ErrNotFound},
		{&APIError{Status: 410}, ErrCursorExpired},
	} {
		if !errors.Is(tc.e, tc.want) {
			t.Errorf("%v is not %v", tc.e, tc.want)
		}
	}
	if errors.Is(&APIError{Status: 403, ErrorCode: "insufficient_scope"}, ErrConnectionLimit) {
		t.Fatal("scope 403 matched the connection limit")
	}
}

func TestDecodeEvent(t *testing.T) {
	ev, err := decodeEvent(SSEMessage{Event: "user.created", ID: "o1", HasID: true, Data: `{"offset":"o1","event":{"id":"evt_1","type":"user.created","data":{"object":{"user_id":"auth0|1","identities":[{"user_id":5}]}}}}`})
	if err != nil || ev.User == nil || ev.User.UserID != "auth0|1" || ev.EventID != "evt_1" || ev.Offset != "o1" || ev.User.Identities[0].UserID != "5" {
		t.Fatalf("%+v, %v", ev, err)
	}
	ev, err = decodeEvent(SSEMessage{Event: "offset-only", Data: `{"offset":"o2"}`})
	if err != nil || ev.Offset != "o2" || ev.User != nil {
		t.Fatalf("%+v, %v", ev, err)
	}
	if _, err := decodeEvent(SSEMessage{Event: "user.created", ID: "o3", HasID: true, Data: `{"offset":"o3"}`}); err == nil {
		t.Fatal("user event without object accepted")
	}
	se := decodeStreamError(SSEMessage{Event: "error", Data: `{"type":"error","error":{"code":"cursor_expired","message":"gone","offset":"o4"}}`})
	if !errors.Is(se, ErrCursorExpired) || se.Offset != "o4" {
		t.Fatalf("%+v", se)
	}
	se = decodeStreamError(SSEMessage{Event: "error", Data: `{"type":"error","error":{"code":"invalid_cursor","message":"x"}}`})
	if !errors.Is(se, ErrInvalidCursor) || errors.Is(se, ErrCursorExpired) {
		t.Fatalf("%+v", se)
	}
	se = decodeStreamError(SSEMessage{Event: "error", Data: `{"error":{"code":"timeout","message":"t"}}`})
	if errors.Is(se, ErrCursorExpired) || se.Code != "timeout" {
		t.Fatalf("%+v", se)
	}
}

// An api.call answer that is not JSON is passed on as a string, except when
// it mentions client_secret: then it is replaced whole (redaction fails
// closed, as for JSON bodies the consumer cannot parse).
func TestRawBodyRedactsTextThatMentionsTheSecret(t *testing.T) {
	for _, body := range []string{
		"client_secret=s3cret&client_id=x",
		"CLIENT_SECRET: s3cret",
		"client%5Fsecret=s3cret",
		`{"client\u005fsecret":"s3cret"`, // not valid JSON, escaped key
	} {
		if got := string(rawBody("text/plain", []byte(body))); got != `"[redacted]"` {
			t.Errorf("rawBody(%q) = %s; want it replaced whole", body, got)
		}
	}
	if got := string(rawBody("text/plain", []byte("upstream timeout"))); got != `"upstream timeout"` {
		t.Errorf("a plain text body = %s; want it as a JSON string", got)
	}
}
