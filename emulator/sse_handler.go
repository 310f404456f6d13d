package emulator

// GET /api/v2/events: the Events API stream over Server-Sent Events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/sse"
)

// evEventTypes are the event_type values the spec accepts
// (EventStreamSubscribeEventsEventTypeEnum). The emulator only produces the
// user.* ones, but filtering on the others is valid and simply matches
// nothing.
var evEventTypes = []string{
	"group.created", "group.deleted", "group.member.added", "group.member.deleted",
	"group.role.assigned", "group.role.deleted", "group.updated",
	"organization.connection.added", "organization.connection.removed",
	"organization.connection.updated", "organization.created", "organization.deleted",
	"organization.group.role.assigned", "organization.group.role.deleted",
	"organization.member.added", "organization.member.deleted",
	"organization.member.role.assigned", "organization.member.role.deleted",
	"organization.updated", "user.created", "user.deleted", "user.updated",
}

// Defaults of the stream knobs.
const (
	evDefaultHeartbeat = time.Second
	evDefaultRetry     = time.Second
	// evWriteTimeout bounds one write to a client that stopped reading, so
	// a stuck connection still ends and frees its slot.
	evWriteTimeout = 30 * time.Second
)

// Error answers of the stream (the Management API error shape, see writeAPIError).
const (
	evMsgTooManyConns = "Too many concurrent connections to the events stream"
	evMsgGone         = "Cursor points to data no longer available in the stream."
)

// evHeartbeatComment is framed by hand to match Auth0's `: heartbeat`.
var evHeartbeatComment = []byte(": heartbeat\n\n")

// evParams is a parsed stream request.
type evParams struct {
	types       []string // empty = all
	offset      string   // Last-Event-ID, else from
	offsetField string   // where offset came from, for error messages
	fromTime    time.Time
	hasFromTime bool
}

func (p *evParams) match(typ string) bool {
	return len(p.types) == 0 || slices.Contains(p.types, typ)
}

// parseEvParams validates the query and the Last-Event-ID header. Every
// parameter present is validated, even one that another takes precedence
// over, so a client learns about a bad value at once.
func parseEvParams(r *http.Request) (evParams, error) {
	var p evParams
	q := r.URL.Query()
	for _, t := range q["event_type"] {
		if !slices.Contains(evEventTypes, t) {
			//lint:ignore ST1005 the text is the body's message, capitalised as Auth0 writes its messages
			return p, fmt.Errorf("Unsupported event type %q in event_type; expected one of: %s", t, strings.Join(evEventTypes, ", "))
		}
		if !slices.Contains(p.types, t) {
			p.types = append(p.types, t)
		}
	}
	from := q.Get("from")
	if len(from) > 1024 {
		//lint:ignore ST1005 the text is the body's message, capitalised as Auth0 writes its messages
		return p, errors.New("Invalid from: longer than 1024 characters")
	}
	if ts := q.Get("from_timestamp"); ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil || len(ts) > 20 {
			//lint:ignore ST1005 the text is the body's message, capitalised as Auth0 writes its messages
			return p, fmt.Errorf("Invalid from_timestamp %q: expected an RFC 3339 timestamp in whole seconds UTC, e.g. 2026-01-02T03:04:05Z", ts)
		}
		p.fromTime, p.hasFromTime = t, true
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		p.offset, p.offsetField = id, "Last-Event-ID header"
	} else if from != "" {
		p.offset, p.offsetField = from, "from"
	}
	return p, nil
}

// serveEvents handles GET /api/v2/events. The router calls it after the
// common middleware: token check, scope read:events (403 insufficient_scope),
// rate limit, fault injection, latency and the request log.
//
// Answers before the stream starts: 400 invalid_query_string (unknown
// event_type, malformed offset in from or Last-Event-ID, bad
// from_timestamp); 410 cursor_expired (the offset is older than the
// retention, or comes from another emulator process); 403
// too_many_connections (EventsMaxConnections). An offset that is well-formed
// but points past the end of the log gets a 200 stream with `event: error`
// invalid_cursor: the spec's 400 is for a cursor *format*, and the stream's
// invalid_cursor code for a cursor the server cannot place.
//
// The stream: `:connected`, `retry:`, optionally one re-delivered event
// (EventsRedeliver, only when resuming from an offset), then every matching
// event after the cursor as it is appended, with `: heartbeat` and an
// `offset-only` message every EventsHeartbeat. It ends after EventsCycle,
// on closeAll, when the client goes away (a plain close, as Auth0 cycles
// connections), or after an `event: error` (cursor_expired when the cursor
// falls out of the retention while connected), or after EventsErrorAfter
// with `event: error` timeout or connection_timeout (EventsErrorCode) and
// the connection's offset. The spec's other codes (payload_too_large,
// processing_error) have no trigger in the emulator and are never sent.
//
// Offsets name "after this event" (or, for offset-only messages, "after
// everything scanned so far"), carry the time they were handed out, and
// expire when that time is older than EventsRetention or an event after
// them was dropped; a heartbeat refreshes a live connection's cursor.
// Re-delivery repeats the newest matching event at or before the resume
// cursor, with its own id.
func (e *Emulator) serveEvents(w http.ResponseWriter, r *http.Request) {
	k := e.Knobs()
	p, ok := evParseRequest(w, r, k)
	if !ok {
		return
	}
	l := e.events
	start, ok := evStartOf(w, l, &p)
	if !ok {
		return
	}
	if !l.acquire(k.EventsMaxConnections) {
		evWriteError(w, http.StatusForbidden, "too_many_connections", evMsgTooManyConns)
		return
	}
	defer l.release()

	s := openEvStream(w, l)
	if !s.greet(k, &p, start) {
		return
	}
	s.run(r.Context(), k, &p, start.cur)
}

// evParseRequest reads the stream's parameters, or answers 404 (events
// off), 405 or 400 (bad query) itself and returns ok false.
func evParseRequest(w http.ResponseWriter, r *http.Request, k Knobs) (p evParams, ok bool) {
	if k.EventsDisabled {
		evWriteError(w, http.StatusNotFound, "", "Not Found")
		return p, false
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		evWriteError(w, http.StatusMethodNotAllowed, "", "Method Not Allowed")
		return p, false
	}
	p, err := parseEvParams(r)
	if err != nil {
		evWriteError(w, http.StatusBadRequest, "invalid_query_string", err.Error())
		return p, false
	}
	return p, true
}

// evStart is where a new connection begins.
type evStart struct {
	cur         evCursor
	resumed     bool   // cur is the client's offset
	cursorError string // invalid_cursor: answer in the stream
}

// evStartOf places the connection's cursor from the offset, else
// from_timestamp, else the end of the log. It answers a malformed (400) or
// expired (410) offset itself; ok false when it did.
func evStartOf(w http.ResponseWriter, l *eventLog, p *evParams) (st evStart, ok bool) {
	switch {
	case p.offset != "":
		c, err := l.resolveOffset(p.offset)
		switch {
		case errors.Is(err, errEvOffsetMalformed):
			evWriteError(w, http.StatusBadRequest, "invalid_query_string", fmt.Sprintf("Invalid cursor format in %s", p.offsetField))
			return st, false
		case errors.Is(err, errEvOffsetExpired):
			evWriteError(w, http.StatusGone, "cursor_expired", evMsgGone)
			return st, false
		case errors.Is(err, errEvOffsetUnknown):
			st.cursorError = fmt.Sprintf("The cursor in %s does not point to a position of this stream.", p.offsetField)
			st.cur = l.latest()
		default:
			st.cur, st.resumed = c, true
		}
	case p.hasFromTime:
		st.cur = l.cursorAtTime(p.fromTime)
	default:
		st.cur = l.latest()
	}
	return st, true
}

// openEvStream starts the 200 event-stream answer.
func openEvStream(w http.ResponseWriter, l *eventLog) *evStream {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// Taken before the client can see the stream: closeAll cancels the
	// context current at that moment, so every connection open by then ends,
	// even one busy writing.
	return &evStream{w: w, rc: rc, l: l, closing: l.closingContext()}
}

// greet writes what comes before the events: `:connected`, `retry:`, then
// the invalid_cursor error or a re-delivered event. false when the stream
// ends there.
func (s *evStream) greet(k Knobs, p *evParams, st evStart) bool {
	l := s.l
	retry := k.EventsRetry
	if retry <= 0 {
		retry = evDefaultRetry
	}
	s.msg(sse.Message{Comment: "connected"})
	s.msg(sse.Message{Retry: int(retry / time.Millisecond)})
	if st.cursorError != "" {
		s.sendError("invalid_cursor", st.cursorError, l.encodeOffset(st.cur))
		s.flush()
		return false
	}
	if st.resumed && l.chance(k.EventsRedeliver) {
		// At-least-once: the last event the client already has, again.
		if ent, ok := l.lastBefore(st.cur.seq, p.match); ok {
			s.write(ent.frame)
		}
	}
	return s.flush() == nil
}

// evStream is one open connection. err is the first write error; after it
// every write is a no-op.
type evStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	l       *eventLog
	closing context.Context // cancelled by the next closeAll
	err     error
}

func (s *evStream) write(b []byte) {
	if s.err != nil {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(evWriteTimeout))
	_, s.err = s.w.Write(b)
}

func (s *evStream) msg(m sse.Message) {
	if s.err != nil {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(evWriteTimeout))
	s.err = sse.Write(s.w, m)
}

func (s *evStream) flush() error {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err
}

// sendError writes a terminal `event: error` (the caller then closes).
func (s *evStream) sendError(code, message, offset string) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Offset  string `json:"offset,omitempty"`
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{code, message, offset}})
	s.msg(sse.Message{Event: "error", Data: string(b)})
}

// run streams until the connection must end. It runs on the handler's
// goroutine; the only other goroutine is the one context.AfterFunc starts
// on closeAll, which just cancels.
func (s *evStream) run(ctx context.Context, k Knobs, p *evParams, cur evCursor) {
	hbEvery := k.EventsHeartbeat
	if hbEvery <= 0 {
		hbEvery = evDefaultHeartbeat
	}
	hb := time.NewTicker(hbEvery)
	defer hb.Stop()
	ctx, stop := s.ends(ctx, k)
	defer stop()

	var buf []evEntry
	heartbeatDue := false
	for {
		batch, expired, wake := s.l.read(cur, buf)
		buf = batch
		if expired {
			s.sendError("cursor_expired", "The cursor is older than the retention of the stream; resume with from_timestamp.", s.l.encodeOffset(cur))
			s.flush()
			return
		}
		for i := range batch {
			cur = evCursor{seq: batch[i].seq, at: batch[i].at}
			if p.match(batch[i].typ) {
				s.write(batch[i].frame)
			}
		}
		if heartbeatDue {
			// Checked for expiry above with its old time; still valid now, so
			// an offset-only message hands the client a fresh position and a
			// live client's cursor never ages out.
			heartbeatDue = false
			cur.at = s.l.now()
			off := s.l.encodeOffset(cur)
			s.write(evHeartbeatComment)
			s.msg(sse.Message{Event: "offset-only", ID: off, HasID: true, Data: `{"offset":"` + off + `"}`})
		}
		if s.flush() != nil {
			return
		}
		if len(batch) == evBatchMax {
			// More is waiting; still honour the ways out between batches.
			if ctx.Err() == nil {
				continue
			}
		} else {
			select {
			case <-wake:
				continue
			case <-hb.C:
				heartbeatDue = true
				continue
			case <-ctx.Done():
			}
		}
		if errors.Is(context.Cause(ctx), errStreamTimeout) {
			s.sendTimeout(k, cur)
		}
		return
	}
}

// evWriteError answers with the Management API error shape (writeAPIError)
// (errorCode omitted when empty).
func evWriteError(w http.ResponseWriter, status int, code, message string) {
	body := struct {
		StatusCode int    `json:"statusCode"`
		Error      string `json:"error"`
		Message    string `json:"message"`
		ErrorCode  string `json:"errorCode,omitempty"`
	}{status, http.StatusText(status), message, code}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
