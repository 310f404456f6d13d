package auth0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ErrStreamClosed is returned by EventStream.Next after Close, and without
// Reconnect when the server ended the stream.
var ErrStreamClosed = errors.New("auth0: events: stream closed")

// EventStream is an open Events API subscription. Next must be called from
// one goroutine at a time; LastOffset and Close are safe from any goroutine.
type EventStream struct {
	c      *Client
	p      EventParams
	ctx    context.Context // the stream's lifetime
	cancel context.CancelFunc

	mu   sync.Mutex
	last string

	conn     *eventConn
	retry    time.Duration // server's retry: hint
	bo       backoff.BackOff
	failures int
}

type eventConn struct {
	cancel context.CancelFunc
	items  chan sseItem
	gotID  bool // delivered at least one message with an id
}

type sseItem struct {
	msg SSEMessage
	err error
}

// SubscribeEvents opens GET /api/v2/events (Accept: text/event-stream) with
// the event_type filters of p and resumes after p.LastEventID (sent as
// Last-Event-ID) or from p.FromTimestamp (whole seconds UTC). ctx bounds the
// whole subscription; Close ends it earlier.
//
// Errors at connect: 410 and `event: error` cursor_expired match
// ErrCursorExpired; `event: error` invalid_cursor and a 400 while resuming
// from an offset match ErrInvalidCursor (treat both by resuming from a
// timestamp); 403 insufficient_scope matches ErrInsufficientScope; 403
// too_many_connections matches ErrConnectionLimit; 404 (no Events API on
// the plan) is an *APIError with Status 404. With p.Reconnect the transient
// ones (connection limit, 429, 5xx, network errors, server cycling) are
// retried with backoff, here and in Next, resuming from the last offset
// received, so no event is lost (some may repeat: dedupe).
func (c *Client) SubscribeEvents(ctx context.Context, p EventParams) (*EventStream, error) {
	for _, t := range p.Types {
		if t == "" || strings.ContainsAny(t, "&=#? ") {
			return nil, fmt.Errorf("auth0: events: %w: event type %q", ErrInvalidRequest, t)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &EventStream{c: c, p: p, ctx: sctx, cancel: cancel, last: p.LastEventID}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	b.MaxElapsedTime = 0
	s.bo = b
	if err := s.connect(ctx); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// LastOffset is the newest offset (SSE id) received, offset-only messages
// included; p.LastEventID until one arrives.
func (s *EventStream) LastOffset() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *EventStream) setLast(id string) {
	s.mu.Lock()
	s.last = id
	s.mu.Unlock()
}

// Close ends the stream; a blocked Next returns.
func (s *EventStream) Close() error {
	s.cancel()
	return nil
}

// transient tells which connect failures Reconnect retries.
func transient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 403:
			return ae.ErrorCode == "too_many_connections"
		case ae.Status == 429, ae.Status >= 500:
			return true
		}
		return false
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.Status == 429 || te.Status >= 500
	}
	return errors.Is(err, ErrUnavailable)
}

// connect opens a connection, retrying transient failures when p.Reconnect.
// callCtx (SubscribeEvents' or Next's) can abort the wait.
func (s *EventStream) connect(callCtx context.Context) error {
	for {
		err := s.dial(callCtx)
		if err == nil {
			return nil
		}
		if s.ctx.Err() != nil {
			return ErrStreamClosed
		}
		if callCtx.Err() != nil {
			return callCtx.Err()
		}
		if !s.p.Reconnect || !transient(err) {
			return err
		}
		s.failures++
		d := s.bo.NextBackOff()
		if s.retry > d {
			d = s.retry
		}
		if errors.Is(err, ErrConnectionLimit) && d < time.Second {
			d = time.Second
		}
		s.c.log.Warn("auth0: events: connect failed, retrying", "in", d, "failures", s.failures, "err", err)
		if err := sleepCtx(callCtx, d); err != nil {
			return err
		}
	}
}

func (s *EventStream) dial(callCtx context.Context) error {
	refreshed := false
	for {
		err, again := s.dialOnce(callCtx, &refreshed)
		if !again {
			return err
		}
	}
}

func (s *EventStream) dialOnce(callCtx context.Context, refreshed *bool) (err error, again bool) {
	c := s.c
	last := s.LastOffset()
	u, err := c.apiURL("/events", s.query(last))
	if err != nil {
		return err, false
	}
	tok, gen, err := c.admit(callCtx)
	if err != nil {
		return err, false
	}
	connCtx, connCancel := context.WithCancel(s.ctx)
	stop := context.AfterFunc(callCtx, connCancel) // abort the connect if the caller gives up
	req, err := newEventsRequest(connCtx, u, tok, last, c.cfg.UserAgent)
	if err != nil {
		stop()
		connCancel()
		c.gate.release(rateInfo{}, 0)
		return err, false
	}
	resp, err := c.hc.Do(req)
	stopped := stop()
	if err != nil {
		connCancel()
		c.gate.release(rateInfo{}, 0)
		c.observe("events", 0)
		if s.ctx.Err() != nil || !stopped {
			return ErrStreamClosed, false
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, cleanTransportErr("events", "GET", "/api/v2/events", err)), false
	}
	ri := c.settle("events", resp)
	if resp.StatusCode != http.StatusOK {
		connCancel()
		return s.refused(resp, ri, gen, last, refreshed)
	}
	s.conn = s.read(connCtx, connCancel, resp)
	return nil, false
}

// query is the /events query: the event types, and from_timestamp when
// there is no offset to resume from.
func (s *EventStream) query(last string) url.Values {
	q := url.Values{}
	for _, t := range s.p.Types {
		q.Add("event_type", t)
	}
	if last == "" && !s.p.FromTimestamp.IsZero() {
		q.Set("from_timestamp", s.p.FromTimestamp.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"))
	}
	return q
}

func newEventsRequest(ctx context.Context, u *url.URL, tok, last, userAgent string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", userAgent)
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	return req, nil
}

// refused turns a non-200 answer to the connect into its error; a first 401
// fetches a new token and asks for another dial (again).
func (s *EventStream) refused(resp *http.Response, ri rateInfo, gen uint64, last string, refreshed *bool) (err error, again bool) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && !*refreshed {
		*refreshed = true
		s.c.tokens.invalidate(gen)
		return nil, true
	}
	ae := newAPIError(resp.StatusCode, body)
	if resp.StatusCode == http.StatusTooManyRequests {
		ae.RetryAt = ri.retryAt()
	}
	if resp.StatusCode == http.StatusBadRequest && last != "" {
		return fmt.Errorf("auth0: events: resuming from offset %q: %w: %w", last, ErrInvalidCursor, ae), false
	}
	return fmt.Errorf("auth0: events: %w", ae), false
}

// read parses the stream's messages in a goroutine until the connection
// ends or connCtx does, handing each to Next.
func (s *EventStream) read(connCtx context.Context, connCancel context.CancelFunc, resp *http.Response) *eventConn {
	conn := &eventConn{cancel: connCancel, items: make(chan sseItem)}
	go func() {
		defer resp.Body.Close()
		rd := NewSSEReaderSize(resp.Body, s.c.cfg.MaxResponseBytes)
		for {
			m, err := rd.Next()
			select {
			case conn.items <- sseItem{m, err}:
			case <-connCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return conn
}

func (s *EventStream) dropConn() {
	if s.conn != nil {
		s.conn.cancel()
		s.conn = nil
	}
}

// Next returns the next message, offset-only ones included (persist every
// Offset). Comments and retry-only blocks are consumed silently. It returns
// ctx.Err() when ctx ends (the stream stays usable), ErrStreamClosed after
// Close, a *StreamError for `event: error` (matching ErrCursorExpired for
// cursor_expired), and — without Reconnect — the connection's end or
// failure.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	for {
		it, err := s.receive(ctx)
		if err != nil {
			return Event{}, err
		}
		if it.err != nil {
			if err := s.ended(ctx, it.err); err != nil {
				return Event{}, err
			}
			continue
		}
		if ev, ok, err := s.message(ctx, it.msg); ok || err != nil {
			return ev, err
		}
	}
}

// receive returns the next item of the connection, connecting first when
// there is none.
func (s *EventStream) receive(ctx context.Context) (sseItem, error) {
	if s.ctx.Err() != nil {
		s.dropConn()
		return sseItem{}, ErrStreamClosed
	}
	if s.conn == nil {
		if err := s.connect(ctx); err != nil {
			return sseItem{}, err
		}
	}
	select {
	case it := <-s.conn.items:
		return it, nil
	case <-ctx.Done():
		return sseItem{}, ctx.Err()
	case <-s.ctx.Done():
		s.dropConn()
		return sseItem{}, ErrStreamClosed
	}
}

// ended handles the end or failure of the connection: nil means reconnect
// (after a backoff when the connection delivered nothing), else the error
// Next returns.
func (s *EventStream) ended(ctx context.Context, cause error) error {
	healthy := s.conn.gotID
	s.dropConn()
	if s.ctx.Err() != nil {
		return ErrStreamClosed
	}
	if !s.p.Reconnect {
		if errors.Is(cause, io.EOF) {
			return ErrStreamClosed
		}
		return fmt.Errorf("%w: events: %w", ErrUnavailable, cause)
	}
	if healthy {
		// Auth0 cycles connections on purpose: come straight back.
		s.bo.Reset()
		s.failures = 0
		s.c.log.Debug("auth0: events: connection ended, reconnecting", "offset", s.LastOffset(), "err", cause)
		return nil
	}
	s.failures++
	d := max(s.bo.NextBackOff(), s.retry)
	lvl := slog.LevelDebug
	if s.failures >= 3 {
		lvl = slog.LevelWarn
	}
	s.c.log.Log(ctx, lvl, "auth0: events: connection ended before any event, reconnecting", "in", d, "failures", s.failures, "err", cause)
	return sleepCtx(ctx, d)
}

// message turns one SSE message into Next's answer; ok false (and no error)
// means there is nothing to return for it (a comment, retry-only, or a
// stream error after which the stream reconnected).
func (s *EventStream) message(ctx context.Context, m SSEMessage) (ev Event, ok bool, err error) {
	if m.Retry > 0 {
		s.retry = min(time.Duration(m.Retry)*time.Millisecond, 30*time.Second)
	}
	if m.Event == "error" {
		return Event{}, false, s.streamError(ctx, m)
	}
	if m.Data == "" && !m.HasID {
		return Event{}, false, nil // comment (":connected", ": heartbeat") or retry-only
	}
	if m.HasID && m.ID != "" {
		s.setLast(m.ID)
		s.conn.gotID = true
	}
	if m.TooLarge {
		// Skipped to its end (README "Bad data"): the caller records the
		// offset as handled and dead-letters the message.
		ev := Event{Type: m.Event, Offset: m.ID, TooLarge: true}
		if ev.Type == "" {
			ev.Type = "message"
		}
		s.c.log.Warn("auth0: events: message over the size limit skipped", "type", ev.Type, "offset", ev.Offset, "limit", s.c.cfg.MaxResponseBytes)
		return ev, true, nil
	}
	ev, err = decodeEvent(m)
	return ev, true, err
}

// streamError handles `event: error`: nil after reconnecting from the last
// offset (transient codes, with Reconnect), else the *StreamError.
func (s *EventStream) streamError(ctx context.Context, m SSEMessage) error {
	se := decodeStreamError(m)
	healthy := s.conn.gotID
	s.dropConn()
	// cursor_expired and invalid_cursor: the offset itself is unusable,
	// reconnecting from it cannot help; the caller resumes from a
	// timestamp. Other codes are transient.
	if !s.p.Reconnect || errors.Is(se, ErrCursorExpired) || errors.Is(se, ErrInvalidCursor) {
		return se
	}
	wait, lvl := s.bo.NextBackOff(), slog.LevelWarn
	if healthy {
		// A connection that worked and was timed out (timeout,
		// connection_timeout): Auth0 expects the client back at once, from
		// its offset, like after a cycled connection.
		s.bo.Reset()
		s.failures = 0
		wait, lvl = s.retry, slog.LevelInfo
	}
	s.c.log.Log(ctx, lvl, "auth0: events: stream error, reconnecting from the last offset", "code", se.Code, "offset", s.LastOffset(), "in", wait)
	return sleepCtx(ctx, wait)
}

func decodeStreamError(m SSEMessage) *StreamError {
	var p struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Offset  string `json:"offset"`
		} `json:"error"`
		Code   string `json:"code"`
		Offset string `json:"offset"`
	}
	se := &StreamError{}
	if json.Unmarshal([]byte(m.Data), &p) == nil {
		se.Code, se.Message, se.Offset = p.Error.Code, p.Error.Message, p.Error.Offset
		if se.Code == "" {
			se.Code = p.Code
		}
		if se.Offset == "" {
			se.Offset = p.Offset
		}
	}
	if se.Code == "" {
		se.Code = "unknown"
	}
	return se
}

// decodeEvent turns an SSE message into an Event. For user.* events the
// user object is data.event.data.object.
func decodeEvent(m SSEMessage) (Event, error) {
	ev := Event{Type: m.Event, Offset: m.ID, Data: json.RawMessage(m.Data)}
	if ev.Type == "" {
		ev.Type = "message"
	}
	if m.Data == "" {
		ev.Data = nil
	}
	if ev.Offset == "" && m.Data != "" {
		var o struct {
			Offset string `json:"offset"`
		}
		if json.Unmarshal(ev.Data, &o) == nil {
			ev.Offset = o.Offset
		}
	}
	if !strings.HasPrefix(ev.Type, "user.") {
		return ev, nil
	}
	u, id, err := decodeUserEvent(ev.Data)
	if err != nil {
		return ev, fmt.Errorf("auth0: events: decode %s at offset %q: %w", ev.Type, ev.Offset, err)
	}
	if u == nil {
		return ev, fmt.Errorf("auth0: events: %s at offset %q has no data.event.data.object", ev.Type, ev.Offset)
	}
	ev.User, ev.EventID = u, id
	return ev, nil
}
