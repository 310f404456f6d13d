package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// evWait bounds every wait of these tests; nothing sleeps to synchronise.
const evWait = 5 * time.Second

// evTarget is where evOpen connects: a stream URL and a client reaching it.
type evTarget struct {
	url    string
	client *http.Client
}

// evServe starts the events handler alone (no router, no middleware).
func evServe(t testing.TB, cfg Config) (*Emulator, evTarget) {
	t.Helper()
	return evServeOn(t, cfg, false)
}

// evServeMem is evServe over in-memory connections, for a test in a
// synctest bubble (see startMemServer).
func evServeMem(t testing.TB, cfg Config) (*Emulator, evTarget) {
	t.Helper()
	return evServeOn(t, cfg, true)
}

func evServeOn(t testing.TB, cfg Config, mem bool) (*Emulator, evTarget) {
	e := New(cfg)
	url, client := serve(t, http.HandlerFunc(e.serveEvents), mem)
	return e, evTarget{url + "/api/v2/events", client}
}

// evUserJSON is a user object as GET /users/{id} answers it.
func evUserJSON(i int, at time.Time) []byte {
	ts := at.UTC().Format("2006-01-02T15:04:05.000Z")
	id := fmt.Sprintf("%024x", i)
	return []byte(fmt.Sprintf(`{
  "user_id": "auth0|%s", "email": "user%d@example.com", "email_verified": false,
  "created_at": %q, "updated_at": %q, "name": "user%d@example.com", "nickname": "user%d",
  "picture": "https://s.gravatar.com/avatar/x.png",
  "identities": [{"connection": "Username-Password-Authentication", "user_id": %q, "provider": "auth0", "isSocial": false}],
  "user_metadata": {"plan": "free"}, "app_metadata": {}
}`, id, i, ts, ts, i, i, id))
}

func evUserID(i int) string { return fmt.Sprintf("auth0|%024x", i) }

// evConn is one client connection: messages arrive on msgs, which closes
// at the end of the stream.
type evConn struct {
	resp   *http.Response
	msgs   chan auth0.SSEMessage
	err    error // the reader's final error, valid after msgs closes
	cancel context.CancelFunc
	done   chan struct{}
}

type evReq struct {
	query       url.Values
	lastEventID string
	token       string // Bearer token, for the full emulator
}

// evOpen opens a stream and, for a 200, starts reading it. Non-200 answers
// are returned with their body read into the second result.
func evOpen(t testing.TB, base evTarget, rq evReq) (*evConn, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := base.url
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	if rq.lastEventID != "" {
		req.Header.Set("Last-Event-ID", rq.lastEventID)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	resp, err := base.client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", u, err)
	}
	c := &evConn{resp: resp, cancel: cancel, msgs: make(chan auth0.SSEMessage, 1024), done: make(chan struct{})}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		close(c.done)
		close(c.msgs)
		return c, body
	}
	go func() {
		defer close(c.done)
		defer close(c.msgs)
		r := auth0.NewSSEReader(resp.Body)
		for {
			m, err := r.Next()
			if err != nil {
				c.err = err
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(c.close)
	return c, nil
}

// close drops the connection and waits for the reader to finish.
func (c *evConn) close() {
	c.cancel()
	c.resp.Body.Close()
	<-c.done
}

// next returns the next message for which keep is true (nil keeps all);
// it fails the test at the deadline or when the stream ends.
func (c *evConn) next(t testing.TB, keep func(auth0.SSEMessage) bool) auth0.SSEMessage {
	t.Helper()
	timer := time.NewTimer(evWait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				<-c.done
				t.Fatalf("stream ended while waiting for a message: %v", c.err)
			}
			if keep == nil || keep(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("no message within %v", evWait)
		}
	}
}

// evIsEvent keeps user.* events and errors, skipping comments, retry and
// offset-only messages.
func evIsEvent(m auth0.SSEMessage) bool {
	return m.Event != "" && m.Event != "offset-only"
}

// waitEnd waits for the server to end the stream and returns the messages
// that came before the end.
func (c *evConn) waitEnd(t *testing.T) []auth0.SSEMessage {
	t.Helper()
	var got []auth0.SSEMessage
	timer := time.NewTimer(evWait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				<-c.done
				if !errors.Is(c.err, io.EOF) {
					t.Fatalf("stream ended with %v, want a clean EOF", c.err)
				}
				return got
			}
			got = append(got, m)
		case <-timer.C:
			t.Fatalf("stream still open after %v", evWait)
		}
	}
}

// evData is the decoded data payload of a user.* event.
type evData struct {
	Offset string `json:"offset"`
	Event  struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Time string `json:"time"`
		Data struct {
			Object struct {
				UserID    string `json:"user_id"`
				DeletedAt string `json:"deleted_at"`
			} `json:"object"`
		} `json:"data"`
	} `json:"event"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Offset  string `json:"offset"`
	} `json:"error"`
}

func evDecode(t *testing.T, m auth0.SSEMessage) evData {
	t.Helper()
	var d evData
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil {
		t.Fatalf("data of %q is not JSON: %v: %q", m.Event, err, m.Data)
	}
	return d
}

// evWaitConns waits until the log counts n open connections.
func evWaitConns(t *testing.T, e *Emulator, n int) {
	t.Helper()
	deadline := time.Now().Add(evWait)
	for e.events.openConnections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("open connections = %d, want %d", e.events.openConnections(), n)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// evOffsets appends n user.created events and returns their offsets as
// read from the log.
func evAppend(e *Emulator, from, n int, now func() time.Time) {
	for i := from; i < from+n; i++ {
		at := time.Now()
		if now != nil {
			at = now()
		}
		e.events.append("user.created", evUserJSON(i, at))
	}
}

func (l *eventLog) offsetOf(seq uint64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ent := range l.entries {
		if ent.seq == seq {
			return ent.offset
		}
	}
	panic(fmt.Sprintf("no entry %d", seq))
}

func TestEventsStreamOpensAndDelivers(t *testing.T) {
	e, base := evServe(t, Config{})
	c, _ := evOpen(t, base, evReq{})
	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if m := c.next(t, nil); m.Comment != "connected" || m.Event != "" || m.HasID {
		t.Fatalf("first message = %+v, want the :connected comment", m)
	}
	if m := c.next(t, nil); m.Retry != 1000 {
		t.Fatalf("second message = %+v, want retry: 1000", m)
	}
	// A stream without from starts at the newest position: nothing old.
	e.events.append("user.created", evUserJSON(1, time.Now()))
	e.events.append("user.updated", evUserJSON(1, time.Now()))
	e.events.append("user.deleted", evUserJSON(1, time.Now()))
	for _, want := range []string{"user.created", "user.updated", "user.deleted"} {
		m := c.next(t, evIsEvent)
		d := evDecode(t, m)
		if m.Event != want || d.Event.Type != want {
			t.Fatalf("event %q (type %q), want %q", m.Event, d.Event.Type, want)
		}
		if !m.HasID || m.ID == "" || m.ID != d.Offset {
			t.Fatalf("id %q, data.offset %q: want equal and non-empty", m.ID, d.Offset)
		}
		if d.Event.Data.Object.UserID != evUserID(1) || !strings.HasPrefix(d.Event.ID, "evt_") {
			t.Fatalf("envelope %+v", d.Event)
		}
		if want == "user.deleted" && d.Event.Data.Object.DeletedAt == "" {
			t.Fatalf("user.deleted object has no deleted_at")
		}
	}
}

func TestEventsStartsAtNewestWithoutCursor(t *testing.T) {
	e, base := evServe(t, Config{})
	evAppend(e, 0, 3, nil)
	c, _ := evOpen(t, base, evReq{})
	c.next(t, func(m auth0.SSEMessage) bool { return m.Retry > 0 })
	evAppend(e, 3, 1, nil)
	if d := evDecode(t, c.next(t, evIsEvent)); d.Event.Data.Object.UserID != evUserID(3) {
		t.Fatalf("first event is for %s, want only events after connecting (user 3)", d.Event.Data.Object.UserID)
	}
}

func TestEventsFilterByType(t *testing.T) {
	e, base := evServe(t, Config{})
	c, _ := evOpen(t, base, evReq{query: url.Values{"event_type": {"user.created", "user.deleted"}}})
	e.events.append("user.updated", evUserJSON(1, time.Now()))
	e.events.append("user.created", evUserJSON(2, time.Now()))
	e.events.append("user.updated", evUserJSON(3, time.Now()))
	e.events.append("user.deleted", evUserJSON(4, time.Now()))
	for _, want := range []struct {
		typ  string
		user int
	}{{"user.created", 2}, {"user.deleted", 4}} {
		m := c.next(t, evIsEvent)
		if d := evDecode(t, m); m.Event != want.typ || d.Event.Data.Object.UserID != evUserID(want.user) {
			t.Fatalf("got %s for %s, want %s for user %d", m.Event, d.Event.Data.Object.UserID, want.typ, want.user)
		}
	}
}

func TestEventsBadQuery(t *testing.T) {
	e, base := evServe(t, Config{})
	evAppend(e, 0, 1, nil)
	other := New(Config{})
	other.events.append("user.created", evUserJSON(1, time.Now()))
	for _, tc := range []struct {
		name   string
		rq     evReq
		status int
		code   string
		inMsg  string
	}{
		{"unknown event type", evReq{query: url.Values{"event_type": {"user.exploded"}}}, 400, "invalid_query_string", "event_type"},
		{"from garbage", evReq{query: url.Values{"from": {"not an offset!"}}}, 400, "invalid_query_string", "from"},
		{"from base64 of the wrong size", evReq{query: url.Values{"from": {"AAAA"}}}, 400, "invalid_query_string", "from"},
		{"Last-Event-ID garbage", evReq{lastEventID: "%%%"}, 400, "invalid_query_string", "Last-Event-ID"},
		{"from_timestamp not RFC 3339", evReq{query: url.Values{"from_timestamp": {"yesterday"}}}, 400, "invalid_query_string", "from_timestamp"},
		{"from_timestamp with fractions", evReq{query: url.Values{"from_timestamp": {"2026-01-02T03:04:05.123Z"}}}, 400, "invalid_query_string", "from_timestamp"},
		{"from_timestamp with an offset", evReq{query: url.Values{"from_timestamp": {"2026-01-02T03:04:05+01:00"}}}, 400, "invalid_query_string", "from_timestamp"},
		{"offset of another emulator", evReq{query: url.Values{"from": {other.events.offsetOf(1)}}}, 410, "cursor_expired", "no longer available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, body := evOpen(t, base, tc.rq)
			if c.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", c.resp.StatusCode, tc.status)
			}
			evCheckErrorBody(t, body, tc.status, tc.code, tc.inMsg)
		})
	}
}

// evCheckErrorBody checks the exact Management API error shape: statusCode,
// error, message and errorCode, no other key.
func evCheckErrorBody(t *testing.T, body []byte, status int, code, inMsg string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	want := map[string]bool{"statusCode": true, "error": true, "message": true, "errorCode": true}
	for k := range m {
		if !want[k] {
			t.Fatalf("unexpected key %q in %s", k, body)
		}
	}
	if m["statusCode"] != float64(status) || m["error"] != http.StatusText(status) || m["errorCode"] != code {
		t.Fatalf("error body %s, want status %d and errorCode %q", body, status, code)
	}
	if msg, _ := m["message"].(string); !strings.Contains(msg, inMsg) {
		t.Fatalf("message %q does not mention %q", msg, inMsg)
	}
}

func TestEventsResumePrecedence(t *testing.T) {
	e, base := evServe(t, Config{})
	evAppend(e, 1, 5, nil) // seqs 1..5 for users 1..5
	users := func(c *evConn, n int) []string {
		var out []string
		for range n {
			out = append(out, evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID)
		}
		return out
	}
	check := func(name string, got []string, from int) {
		t.Helper()
		for i, u := range got {
			if u != evUserID(from+i) {
				t.Fatalf("%s: got %v, want users from %d on", name, got, from)
			}
		}
	}
	c, _ := evOpen(t, base, evReq{query: url.Values{"from": {e.events.offsetOf(2)}}})
	check("from", users(c, 3), 3)
	c, _ = evOpen(t, base, evReq{
		query:       url.Values{"from": {e.events.offsetOf(1)}, "from_timestamp": {"2020-01-01T00:00:00Z"}},
		lastEventID: e.events.offsetOf(3),
	})
	check("Last-Event-ID over from and from_timestamp", users(c, 2), 4)
	c, _ = evOpen(t, base, evReq{query: url.Values{"from": {e.events.offsetOf(4)}, "from_timestamp": {"2020-01-01T00:00:00Z"}}})
	check("from over from_timestamp", users(c, 1), 5)
}

func TestEventsFromTimestamp(t *testing.T) { synctest.Test(t, testEventsFromTimestamp) }

func testEventsFromTimestamp(t *testing.T) {
	start := time.Now()
	e, base := evServeMem(t, Config{})
	for i := 1; i <= 3; i++ {
		e.events.append("user.created", evUserJSON(i, time.Now()))
		time.Sleep(10*time.Second + 500*time.Millisecond)
	}
	// Event 2 happened at +10.5s: from_timestamp +10s (whole seconds) starts
	// at it; +11s skips it.
	for _, tc := range []struct {
		after time.Duration
		first int
	}{{0, 1}, {10 * time.Second, 2}, {11 * time.Second, 3}} {
		ts := start.Add(tc.after).Format(time.RFC3339)
		c, _ := evOpen(t, base, evReq{query: url.Values{"from_timestamp": {ts}}})
		if u := evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID; u != evUserID(tc.first) {
			t.Fatalf("from_timestamp %s: first event for %s, want user %d", ts, u, tc.first)
		}
	}
	// After every event: nothing old, new ones arrive.
	c, _ := evOpen(t, base, evReq{query: url.Values{"from_timestamp": {time.Now().Add(time.Hour).Format(time.RFC3339)}}})
	e.events.append("user.created", evUserJSON(9, time.Now()))
	if u := evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID; u != evUserID(9) {
		t.Fatalf("got %s, want user 9", u)
	}
}

// TestEventsResumeExactlyOnce: a client that drops its connection at
// arbitrary points and resumes with Last-Event-ID (its last id, offset-only
// ones included) sees every event once and in order, while events are being
// appended concurrently. With EventsRedeliver=1 each resume repeats the last
// event before the cursor, so the client sees duplicates to dedupe.
func TestEventsResumeExactlyOnce(t *testing.T) {
	for _, redeliver := range []bool{false, true} {
		t.Run(fmt.Sprintf("redeliver=%v", redeliver), func(t *testing.T) {
			cfg := Config{Knobs: Knobs{EventsHeartbeat: 5 * time.Millisecond}}
			if redeliver {
				cfg.Knobs.EventsRedeliver = 1
			}
			e, base := evServe(t, cfg)
			const total = 300
			// The first event exists before the first connection, which
			// starts from it; the rest are appended while the client hops.
			evAppend(e, 0, 1, nil)
			appended := make(chan struct{})
			go func() {
				defer close(appended)
				evAppend(e, 1, total-1, nil)
			}()
			lastID := ""
			seen := map[string]int{}
			var order []string
			dups, resumes := 0, 0
			from := url.Values{"from_timestamp": {"2000-01-01T00:00:00Z"}}
			for len(seen) < total {
				rq := evReq{lastEventID: lastID}
				if lastID == "" {
					rq.query = from
				} else {
					resumes++
				}
				c, body := evOpen(t, base, rq)
				if body != nil {
					t.Fatalf("resume answered %d %s", c.resp.StatusCode, body)
				}
				firstAfterResume := lastID != ""
				// Read a few messages (at least two: a re-delivered one and a
				// new one), then drop the connection.
				for n := 0; n < 2+resumes%7 && len(seen) < total; n++ {
					m := c.next(t, func(m auth0.SSEMessage) bool { return m.HasID })
					lastID = m.ID
					if m.Event == "offset-only" {
						continue
					}
					u := evDecode(t, m).Event.Data.Object.UserID
					if seen[u] > 0 {
						dups++
						if !redeliver || !firstAfterResume || u != order[len(order)-1] {
							t.Fatalf("duplicate %s (redeliver %v, first after resume %v)", u, redeliver, firstAfterResume)
						}
					} else {
						order = append(order, u)
					}
					seen[u]++
					firstAfterResume = false
				}
				c.close()
			}
			<-appended
			for i, u := range order {
				if u != evUserID(i) {
					t.Fatalf("event %d is for %s, want %s (order %v)", i, u, evUserID(i), order[:i+1])
				}
			}
			if redeliver && dups == 0 {
				t.Fatalf("EventsRedeliver=1 and %d resumes but no duplicate", resumes)
			}
			if !redeliver && dups != 0 {
				t.Fatalf("%d duplicates without re-delivery", dups)
			}
			evWaitConns(t, e, 0)
		})
	}
}

func TestEventsRetentionGone(t *testing.T) { synctest.Test(t, testEventsRetentionGone) }

func testEventsRetentionGone(t *testing.T) {
	e, base := evServeMem(t, Config{Knobs: Knobs{EventsRetention: time.Hour}})
	e.events.append("user.created", evUserJSON(1, time.Now()))
	old := e.events.offsetOf(1)
	time.Sleep(30 * time.Minute)
	e.events.append("user.created", evUserJSON(2, time.Now()))
	mid := e.events.offsetOf(2)

	// Within the retention: resumes fine.
	c, body := evOpen(t, base, evReq{lastEventID: old})
	if body != nil {
		t.Fatalf("fresh offset answered %d %s", c.resp.StatusCode, body)
	}
	if u := evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID; u != evUserID(2) {
		t.Fatalf("got %s, want user 2", u)
	}
	c.close()

	time.Sleep(45 * time.Minute) // event 1 is 75 min old, event 2 45 min
	if n := func() int { e.events.append("user.updated", evUserJSON(2, time.Now())); return e.events.len() }(); n != 2 {
		t.Fatalf("retained %d events, want 2 (event 1 dropped)", n)
	}
	for _, rq := range []evReq{{lastEventID: old}, {query: url.Values{"from": {old}}}} {
		c, body := evOpen(t, base, rq)
		if c.resp.StatusCode != http.StatusGone {
			t.Fatalf("offset older than the retention: status %d, want 410", c.resp.StatusCode)
		}
		evCheckErrorBody(t, body, 410, "cursor_expired", "no longer available")
	}
	// The younger offset still works, and from_timestamp never answers 410:
	// it is the way back after one.
	c, body = evOpen(t, base, evReq{lastEventID: mid})
	if body != nil {
		t.Fatalf("offset within the retention answered %d %s", c.resp.StatusCode, body)
	}
	if m := c.next(t, evIsEvent); m.Event != "user.updated" {
		t.Fatalf("got %s, want user.updated", m.Event)
	}
	c, body = evOpen(t, base, evReq{query: url.Values{"from_timestamp": {"2000-01-01T00:00:00Z"}}})
	if body != nil {
		t.Fatalf("from_timestamp before the retention answered %d %s", c.resp.StatusCode, body)
	}
	if u := evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID; u != evUserID(2) {
		t.Fatalf("from_timestamp before the retention starts at %s, want the oldest retained (user 2)", u)
	}
}

// TestEventsCursorExpiresInStream: a connected client whose cursor ages past
// the retention (no heartbeat refreshed it) gets `event: error`
// cursor_expired and the stream closes.
func TestEventsCursorExpiresInStream(t *testing.T) { synctest.Test(t, testEventsCursorExpiresInStream) }

func testEventsCursorExpiresInStream(t *testing.T) {
	e, base := evServeMem(t, Config{Knobs: Knobs{EventsRetention: time.Minute, EventsHeartbeat: time.Hour}})
	c, _ := evOpen(t, base, evReq{})
	c.next(t, func(m auth0.SSEMessage) bool { return m.Retry > 0 })
	time.Sleep(2 * time.Minute)
	e.events.append("user.created", evUserJSON(1, time.Now())) // wakes the connection
	rest := c.waitEnd(t)
	if len(rest) != 1 || rest[0].Event != "error" {
		t.Fatalf("got %+v, want exactly one event: error before the end", rest)
	}
	if d := evDecode(t, rest[0]); d.Error == nil || d.Error.Code != "cursor_expired" || d.Error.Offset == "" {
		t.Fatalf("error payload %s", rest[0].Data)
	}
	evWaitConns(t, e, 0)
}

func TestEventsInvalidCursorInStream(t *testing.T) {
	e, base := evServe(t, Config{})
	evAppend(e, 1, 1, nil)
	future := e.events.encodeOffset(evCursor{seq: 99, at: time.Now()})
	c, body := evOpen(t, base, evReq{lastEventID: future})
	if body != nil {
		t.Fatalf("status %d %s, want a 200 stream", c.resp.StatusCode, body)
	}
	rest := c.waitEnd(t)
	last := rest[len(rest)-1]
	if d := evDecode(t, last); last.Event != "error" || d.Error == nil || d.Error.Code != "invalid_cursor" {
		t.Fatalf("last message %+v, want event: error invalid_cursor", last)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	e, base := evServe(t, Config{Knobs: Knobs{EventsHeartbeat: 20 * time.Millisecond}})
	c, _ := evOpen(t, base, evReq{})
	c.next(t, func(m auth0.SSEMessage) bool { return m.Comment == "heartbeat" })
	m := c.next(t, func(m auth0.SSEMessage) bool { return m.Event == "offset-only" })
	var d map[string]any
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil || len(d) != 1 || d["offset"] != m.ID || !m.HasID {
		t.Fatalf("offset-only message %+v: data must be exactly {\"offset\": <id>}", m)
	}
	c.close()
	// Resuming from an offset-only id delivers what came after it.
	e.events.append("user.created", evUserJSON(7, time.Now()))
	c, _ = evOpen(t, base, evReq{lastEventID: m.ID})
	if u := evDecode(t, c.next(t, evIsEvent)).Event.Data.Object.UserID; u != evUserID(7) {
		t.Fatalf("got %s, want user 7", u)
	}
}

func TestEventsCycling(t *testing.T) {
	e, base := evServe(t, Config{Knobs: Knobs{EventsCycle: 100 * time.Millisecond}})
	start := time.Now()
	c, _ := evOpen(t, base, evReq{})
	c.waitEnd(t)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v, before EventsCycle", d)
	}
	evWaitConns(t, e, 0)
}

func TestEventsCloseAll(t *testing.T) {
	e, base := evServe(t, Config{})
	a, _ := evOpen(t, base, evReq{})
	b, _ := evOpen(t, base, evReq{})
	evWaitConns(t, e, 2)
	e.events.closeAll()
	a.waitEnd(t)
	b.waitEnd(t)
	evWaitConns(t, e, 0)
	// New connections after closeAll stay open and get events.
	c, _ := evOpen(t, base, evReq{})
	evWaitConns(t, e, 1)
	evAppend(e, 1, 1, nil)
	c.next(t, evIsEvent)
}

func TestEventsConnectionLimit(t *testing.T) {
	e, base := evServe(t, Config{Knobs: Knobs{EventsMaxConnections: 1}})
	a, _ := evOpen(t, base, evReq{})
	a.next(t, nil)
	c, body := evOpen(t, base, evReq{})
	if c.resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second connection: status %d, want 403", c.resp.StatusCode)
	}
	want := `{"statusCode":403,"error":"Forbidden","message":"Too many concurrent connections to the events stream","errorCode":"too_many_connections"}`
	if string(body) != want {
		t.Fatalf("403 body %s, want %s", body, want)
	}
	a.close()
	evWaitConns(t, e, 0) // the handler noticed the disconnect and freed the slot
	b, body := evOpen(t, base, evReq{})
	if body != nil {
		t.Fatalf("after the first closed: %d %s", b.resp.StatusCode, body)
	}
}

func TestEventsDisconnectEndsHandler(t *testing.T) {
	e, base := evServe(t, Config{Knobs: Knobs{EventsHeartbeat: time.Hour}})
	var conns []*evConn
	for range 5 {
		c, _ := evOpen(t, base, evReq{})
		conns = append(conns, c)
	}
	evWaitConns(t, e, 5)
	for _, c := range conns {
		c.close()
	}
	evWaitConns(t, e, 0)
}

// TestEventLogSeekAndRetention checks the log's arithmetic directly over
// many events: seeking by time finds the first event at or after it,
// offsets resolve to their own position, retention drops exactly the
// events older than it and expires exactly the offsets that predate it.
func TestEventLogSeekAndRetention(t *testing.T) { synctest.Test(t, testEventLogSeekAndRetention) }

func testEventLogSeekAndRetention(t *testing.T) {
	start := time.Now()
	e := New(Config{Knobs: Knobs{EventsRetention: time.Hour}})
	l := e.events
	const (
		n    = 5000
		step = 3 * time.Second // three events share each instant
	)
	at := func(seq uint64) time.Time { return start.Add(time.Duration((seq-1)/3) * step) }
	offsets := make([]string, n+1) // by seq
	for i := 1; i <= n; i++ {
		l.append("user.created", evUserJSON(i, time.Now()))
		offsets[i] = l.offsetOf(uint64(i))
		if i%3 == 0 {
			time.Sleep(step)
		}
	}
	now := time.Now()
	cut := now.Add(-time.Hour)
	k := uint64((cut.Sub(start) + step - 1) / step) // first kept group
	firstKept := 3*k + 1
	if got := l.len(); got != int(n-firstKept+1) || l.entries[0].seq != firstKept {
		t.Fatalf("retained %d events from seq %d, want %d from seq %d", got, l.entries[0].seq, n-firstKept+1, firstKept)
	}
	for _, sec := range []int{0, 1, 1500, 1501, 2000, 4000, 4998, 4999, 6000} {
		c := l.cursorAtTime(start.Add(time.Duration(sec) * time.Second))
		g := uint64((time.Duration(sec)*time.Second + step - 1) / step)
		want := max(3*g, firstKept-1)
		if 3*g >= n {
			want = n
		}
		if c.seq != want {
			t.Fatalf("cursorAtTime(+%ds) = seq %d, want %d", sec, c.seq, want)
		}
	}
	for _, seq := range []uint64{1, firstKept - 2, firstKept - 1, firstKept, firstKept + 1, n - 1, n} {
		c, err := l.resolveOffset(offsets[seq])
		expired := at(seq).Before(cut) || seq+1 < firstKept
		switch {
		case expired && !errors.Is(err, errEvOffsetExpired):
			t.Fatalf("offset of seq %d: %+v, %v; want expired", seq, c, err)
		case !expired && (err != nil || c.seq != seq):
			t.Fatalf("offset of seq %d: %+v, %v; want seq %d", seq, c, err, seq)
		}
	}
	if _, err := l.resolveOffset(l.encodeOffset(evCursor{seq: n + 1, at: now})); !errors.Is(err, errEvOffsetUnknown) {
		t.Fatalf("offset past the end: %v, want errEvOffsetUnknown", err)
	}
}
