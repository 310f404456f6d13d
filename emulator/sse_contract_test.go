package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/contract"
)

// evSchema is the spec's schema of one SSE data payload.
const evSchema = "EventStreamSubscribeEventsResponseContent"

// evWithType injects the SSE event name as "type", as the spec says the SDK
// does before the payload meets the schema.
func evWithType(t *testing.T, m auth0.SSEMessage) []byte {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(m.Data), &obj); err != nil {
		t.Fatalf("%s data is not a JSON object: %v: %q", m.Event, err, m.Data)
	}
	obj["type"], _ = json.Marshal(m.Event)
	b, _ := json.Marshal(obj)
	return b
}

// TestEventsEndToEndMatchSpec drives the stream through the full emulator
// (token, scope, rate limit, request log) while users are created, updated
// and deleted over the HTTP API, and validates every SSE data payload —
// user.*, offset-only and error — against the spec's
// EventStreamSubscribeEventsResponseContent.
func TestEventsEndToEndMatchSpec(t *testing.T) { synctest.Test(t, testEventsEndToEndMatchSpec) }

func testEventsEndToEndMatchSpec(t *testing.T) {
	v := contract.Load(t)
	s := startMemServer(t, Config{Knobs: Knobs{
		EventsHeartbeat: 20 * time.Millisecond,
		EventsRetention: time.Hour,
	}}, contract.Middleware(t))
	api := newClient(t, s)
	base := s.events()

	var payloads []auth0.SSEMessage
	c, body := evOpen(t, base, evReq{token: api.token})
	if body != nil {
		t.Fatalf("GET /api/v2/events: %d %s", c.resp.StatusCode, body)
	}
	// The heartbeat proves the stream is being served before changes start.
	payloads = append(payloads, c.next(t, func(m auth0.SSEMessage) bool { return m.Event == "offset-only" }))

	var ids []string
	for _, email := range []string{"Ada@Example.com", "grace@example.com"} {
		r := api.do(http.MethodPost, "/api/v2/users", createBody(email))
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", email, r.status, r.body)
		}
		ids = append(ids, r.obj(t)["user_id"].(string))
	}
	if r := api.do(http.MethodPatch, "/api/v2/users/"+url.PathEscape(ids[0]), map[string]any{"user_metadata": map[string]any{"plan": "pro"}}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := api.do(http.MethodDelete, "/api/v2/users/"+url.PathEscape(ids[1]), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	want := []struct{ typ, user string }{
		{"user.created", ids[0]}, {"user.created", ids[1]}, {"user.updated", ids[0]}, {"user.deleted", ids[1]},
	}
	for _, w := range want {
		m := c.next(t, evIsEvent)
		if d := evDecode(t, m); m.Event != w.typ || d.Event.Data.Object.UserID != w.user {
			t.Fatalf("got %s for %s, want %s for %s", m.Event, d.Event.Data.Object.UserID, w.typ, w.user)
		}
		payloads = append(payloads, m)
	}

	// The cursor ages out while connected: event: error cursor_expired. A
	// heartbeat would refresh it, so the resumed connection gets one only
	// after the retention has passed.
	c.close()
	s.Emulator.SetKnobs(func(k *Knobs) { k.EventsHeartbeat = 2 * time.Hour })
	c, body = evOpen(t, base, evReq{token: api.token, lastEventID: payloads[len(payloads)-1].ID})
	if body != nil {
		t.Fatalf("resume: %d %s", c.resp.StatusCode, body)
	}
	time.Sleep(2 * time.Hour)
	rest := c.waitEnd(t)
	if len(rest) == 0 || rest[len(rest)-1].Event != "error" {
		t.Fatalf("after the retention passed the stream ended with %+v, want event: error", rest)
	}
	payloads = append(payloads, rest[len(rest)-1])

	// A cursor past the end of the stream: event: error invalid_cursor.
	future := s.Emulator.events.encodeOffset(evCursor{seq: 1 << 40, at: time.Now()})
	c, _ = evOpen(t, base, evReq{token: api.token, lastEventID: future})
	rest = c.waitEnd(t)
	payloads = append(payloads, rest[len(rest)-1])

	kinds := map[string]bool{}
	for _, m := range payloads {
		if err := v.ValidateSchema(evSchema, evWithType(t, m)); err != nil {
			t.Errorf("%s payload does not match %s: %v\n%s", m.Event, evSchema, err, m.Data)
		}
		kinds[m.Event] = true
		if m.Event == "error" {
			kinds["error:"+evDecode(t, m).Error.Code] = true
		}
	}
	for _, k := range []string{"user.created", "user.updated", "user.deleted", "offset-only", "error:cursor_expired", "error:invalid_cursor"} {
		if !kinds[k] {
			t.Errorf("no %s payload was validated (got %v)", k, kinds)
		}
	}

	// The validator bites: the same payloads, broken, fail.
	for _, bad := range []string{
		strings.Replace(string(evWithType(t, payloads[1])), `"a0stream"`, `"a0streamX"`, 1),
		strings.Replace(string(evWithType(t, payloads[0])), `"offset-only"`, `"user.created"`, 1),
		`{"type":"error","error":{"code":"gone_fishing","message":"x"}}`,
	} {
		if err := v.ValidateSchema(evSchema, []byte(bad)); err == nil {
			t.Errorf("a broken payload passed the schema: %s", bad)
		}
	}
}

// TestEventsEndToEndErrors: the stream's refusals through the full
// emulator, each with Auth0's error shape.
func TestEventsEndToEndErrors(t *testing.T) {
	s := startServer(t, Config{Knobs: Knobs{EventsMaxConnections: 1}})
	api := newClient(t, s)
	base := s.events()

	a, _ := evOpen(t, base, evReq{token: api.token})
	a.next(t, nil)
	for _, tc := range []struct {
		rq     evReq
		status int
		code   string
	}{
		{evReq{token: api.token}, http.StatusForbidden, "too_many_connections"},
		{evReq{token: api.token, query: url.Values{"from": {"garbage"}}}, http.StatusBadRequest, "invalid_query_string"},
		{evReq{}, http.StatusUnauthorized, ""},
	} {
		c, body := evOpen(t, base, tc.rq)
		if c.resp.StatusCode != tc.status {
			t.Fatalf("%+v: status %d, want %d (%s)", tc.rq, c.resp.StatusCode, tc.status, body)
		}
		if err := contract.APIErrorShape(tc.status, body); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if tc.code != "" && m["errorCode"] != tc.code {
			t.Fatalf("errorCode %v, want %s: %s", m["errorCode"], tc.code, body)
		}
	}

	// The admin surface drops the connection; the request log carries the
	// Last-Event-ID of a resume.
	s.Emulator.CloseEventStreams()
	a.waitEnd(t)
	evWaitConns(t, s.Emulator, 0)
	s.Emulator.events.append("user.created", evUserJSON(1, time.Now()))
	off := s.Emulator.events.offsetOf(1)
	b, body := evOpen(t, base, evReq{token: api.token, lastEventID: off})
	if body != nil {
		t.Fatalf("resume: %d %s", b.resp.StatusCode, body)
	}
	found := false
	for _, r := range s.Emulator.Requests() {
		if r.Path == "/api/v2/events" && r.LastEventID == off && r.Status == http.StatusOK {
			found = true
		}
	}
	if !found {
		t.Fatalf("request log has no 200 /api/v2/events with Last-Event-ID %s: %+v", off, s.Emulator.Requests())
	}
}
