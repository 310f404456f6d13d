package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

func TestClassify(t *testing.T) {
	retryAt := time.Now().Add(3 * time.Second)
	body := []byte(`{"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"}`)
	for _, tc := range []struct {
		err       error
		status    int
		code      string
		transient bool
	}{
		{&auth0.APIError{Status: 400, Body: []byte(`{"statusCode":400}`)}, 400, CodeAuth0BadRequest, false},
		{&auth0.APIError{Status: 401}, 502, CodeAuth0Unauthorized, true},
		{&auth0.APIError{Status: 403}, 403, CodeAuth0Forbidden, false},
		{&auth0.APIError{Status: 404}, 404, CodeNotFound, false},
		{fmt.Errorf("users.create: %w", &auth0.APIError{Status: 409, Body: body}), 409, CodeConflict, false},
		{&auth0.APIError{Status: 429, RetryAt: retryAt}, 429, CodeRateLimited, true},
		{&auth0.APIError{Status: 500}, 502, CodeAuth0Error, true},
		{&auth0.APIError{Status: 503}, 502, CodeAuth0Error, true},
		{fmt.Errorf("%w: %w", auth0.ErrAmbiguous, &auth0.APIError{Status: 503}), 502, CodeAuth0Error, true},
		{fmt.Errorf("%w: reset", auth0.ErrAmbiguous), 502, CodeAuth0Ambiguous, true},
		{fmt.Errorf("%w: dial", auth0.ErrUnavailable), 503, CodeAuth0Unavailable, true},
		{fmt.Errorf("x: %w", auth0.ErrNotAllowed), 403, CodeNotAllowed, false},
		{fmt.Errorf("x: %w", auth0.ErrInvalidPath), 400, CodeInvalidCommand, false},
		{fmt.Errorf("x: %w", auth0.ErrForbiddenHeader), 400, CodeInvalidCommand, false},
		{&auth0.TokenError{Status: 401, Code: "access_denied"}, 502, CodeAuth0Unauthorized, true},
		// A 5xx of the token endpoint is not a refusal of the credentials.
		{&auth0.TokenError{Status: 503, Code: "service_unavailable"}, 502, CodeAuth0Error, true},
		{context.DeadlineExceeded, 504, CodeTimeout, true},
	} {
		e := classify(context.Background(), "op", tc.err)
		if e.Status != tc.status || e.Code != tc.code || e.Transient != tc.transient {
			t.Errorf("%v → %d %s transient=%v; want %d %s %v", tc.err, e.Status, e.Code, e.Transient, tc.status, tc.code, tc.transient)
		}
	}
	e := classify(context.Background(), "users.create", fmt.Errorf("w: %w", &auth0.APIError{Status: 409, Body: body}))
	var b struct {
		Error struct {
			Status int            `json:"status"`
			Auth0  map[string]any `json:"auth0"`
		} `json:"error"`
	}
	if err := json.Unmarshal(e.Body(), &b); err != nil || b.Error.Status != 409 || b.Error.Auth0["errorCode"] != "auth0_idp_error" {
		t.Fatalf("409 body: %s", e.Body())
	}
	if e := classify(context.Background(), "op", &auth0.APIError{Status: 429, RetryAt: retryAt}); !e.RetryAt.Equal(retryAt) {
		t.Fatal("429 lost Auth0's reset time")
	}
	// The command's own deadline wins over whatever the client made of it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if e := classify(ctx, "op", fmt.Errorf("%w: x", auth0.ErrUnavailable)); e.Status != 504 {
		t.Fatalf("deadline → %d", e.Status)
	}
}

type panicClient struct{ okClient }

func (panicClient) GetUser(context.Context, string) (*auth0.User, error) { panic("boom") }

func TestPanicBecomes500WithLogLine(t *testing.T) {
	var logs bytes.Buffer
	x := &executor{client: panicClient{}, log: slog.New(slog.NewTextHandler(&logs, nil)), cmds: builtinSet(t)}
	_, e := x.execute(context.Background(), CmdGet, []byte(`{"user_id":"a"}`), attempt{})
	if e == nil || e.Status != 500 || e.Code != CodeInternal || e.Transient {
		t.Fatalf("panic → %+v", e)
	}
	if !strings.Contains(logs.String(), "command panicked") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("no log line: %s", logs.String())
	}
	if errors.Unwrap(e) != nil && strings.Contains(string(e.Body()), "boom") {
		t.Fatal("panic value leaked into the reply")
	}
}
