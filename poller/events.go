package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/tick"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// errRefused wraps an Events API refusal that auto answers by falling back
// to search: 404 (no Events API on this plan) or 403 insufficient_scope.
var errRefused = errors.New("events API refused")

// isRefusal tells a refusal from trouble worth retrying (a 403 for the
// concurrent-connection limit is not a refusal).
func isRefusal(err error) bool {
	if errors.Is(err, auth0.ErrConnectionLimit) {
		return false
	}
	if errors.Is(err, auth0.ErrInsufficientScope) {
		return true
	}
	return errors.Is(err, auth0.ErrNotFound)
}

// eventsBatchMax bounds one pipeline batch of the events source.
const eventsBatchMax = 500

func init() {
	Register(Registration{Name: SourceEvents, Mode: Pull, Selectable: true, EventsAPI: true,
		New: func(p *Poller) (Source, error) { return newEventsSource(p.pullDeps()), nil }})
}

// eventsSource follows GET /api/v2/events with one event_type per wanted
// type (Options.Types). An
// offset is persisted only after every event before it is published;
// offset-only messages are persisted too. Reconcile runs beside it, and
// backfill serves a start point in the past.
type eventsSource struct {
	p *pullDeps
	// sink publishes under the events label (set by follow).
	sink Sink
	// reconcile is the reconcile source (nil: RECONCILE_INTERVAL off).
	reconcile Source
	// offset is the newest offset whose events are all published.
	offset string
	// newest is the newest event time published (never past the worker's
	// clock); saved with the offset in cursor:events.
	newest time.Time
	// from is used when there is no valid offset.
	from time.Time
}

func newEventsSource(p *pullDeps) *eventsSource {
	return &eventsSource{p: p, reconcile: newReconcile(p)}
}

// Run follows the stream until ctx ends (nil) or the lease is lost. A
// refusal is logged and retried later: POLL_SOURCE=events never falls back.
func (s *eventsSource) Run(ctx context.Context, sink Sink) error {
	ctx, side := newSidecar(ctx, s.reconcile, sink.forSource(SourceReconcile))
	defer side.stop()
	for ctx.Err() == nil {
		err := s.follow(ctx, sink, side, false)
		if !errors.Is(err, errRefused) {
			return err
		}
		s.p.log.Error("poller: the Events API refused this client (POLL_SOURCE=events); retrying later — grant read:events or use POLL_SOURCE=auto", "err", err)
		s.p.setSource("")
		tick.Sleep(ctx, min(s.p.opts.EventsRetry, time.Minute))
	}
	return nil
}

// follow prepares the start point and streams, again after any trouble,
// until ctx ends (nil), the lease is lost, or the Events API refuses this
// client (an error wrapping errRefused). afterFallback: search ran
// meanwhile (auto). Reconcile (side) starts after the first successful
// prepare: what it publishes is recent, and the newest published created_at
// must not jump ahead of an unfinished backfill (a restart resumes the
// backfill from it).
func (s *eventsSource) follow(ctx context.Context, sink Sink, side *sidecar, afterFallback bool) error {
	s.sink = sink
	for retry := newRetry(); ctx.Err() == nil; {
		if err := s.prepare(ctx, afterFallback); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrLeaseLost) {
				return err
			}
			s.p.log.Warn("poller: events source cannot start yet; retrying", "err", err)
			tick.Sleep(ctx, retry.NextBackOff())
			continue
		}
		side.start()
		s.p.setSource(SourceEvents)
		err := s.run(ctx)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, errRefused) {
			return err
		}
	}
	return nil
}

type streamItem struct {
	ev  auth0.Event
	err error
}

// run returns nil when ctx ends, an error wrapping errRefused on a
// refusal, ErrLeaseLost when a cursor write found another leader.
func (s *eventsSource) run(ctx context.Context) error {
	p := s.p
	for retry := newRetry(); ; {
		if ctx.Err() != nil {
			return nil
		}
		params := s.params()
		st, err := p.subscribe(ctx, params)
		if err == nil {
			p.log.Info("poller: events stream connected", "last_event_id", params.LastEventID, "from_timestamp", fromLog(params))
			p.cycleDone(SourceEvents, "connected")
			retry.Reset()
			err = s.consume(ctx, st)
			_ = st.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			continue // server closed the stream: resume from the offset
		case errors.Is(err, ErrLeaseLost):
			return err
		case isRefusal(err):
			p.cycleDone(SourceEvents, "refused")
			return fmt.Errorf("%w: %w", errRefused, err)
		case errors.Is(err, auth0.ErrCursorExpired), errors.Is(err, auth0.ErrInvalidCursor):
			p.cycleDone(SourceEvents, "cursor_expired")
			resumed, rerr := s.replaceCursor(ctx, err)
			if rerr != nil {
				return rerr
			}
			if resumed {
				continue
			}
		default:
			p.cycleDone(SourceEvents, "error")
			p.log.Warn("poller: events stream failed; reconnecting", "err", err)
		}
		if !tick.Sleep(ctx, retry.NextBackOff()) {
			return nil
		}
	}
}

// params is where the next connection starts: the offset, else the
// resume time (never past the worker's clock).
func (s *eventsSource) params() auth0.EventParams {
	params := auth0.EventParams{Types: s.p.opts.Types, Reconnect: true}
	if s.offset != "" {
		params.LastEventID = s.offset
	} else {
		params.FromTimestamp = notAfter(s.from, time.Now()).UTC().Truncate(time.Second)
	}
	return params
}

// replaceCursor handles an offset Auth0 no longer knows (or never knew):
// reconnecting with it would loop forever, and events past the stream's
// retention cannot be replayed, so the gap since the newest published user
// is searched first, then the stream resumes from a timestamp. resumed is
// false when the caller should back off and try again (the resume time is
// unknown, or ctx ended); err only for a lost lease.
func (s *eventsSource) replaceCursor(ctx context.Context, cause error) (resumed bool, err error) {
	p := s.p
	if p.opts.Searcher != nil {
		until := time.Now()
		p.log.Warn("poller: events cursor expired or invalid; searching the gap, then resuming from a timestamp", "err", cause)
		berr := s.backfill(ctx, until)
		switch {
		case berr == nil:
			s.offset, s.from = "", until.Add(-p.opts.Overlap)
			return true, nil
		case errors.Is(berr, ErrLeaseLost):
			return false, berr
		case ctx.Err() != nil:
			return false, nil
		}
		p.log.Warn("poller: gap search refused; resuming from a timestamp only (reconcile covers what the stream no longer holds)", "err", berr)
	}
	from, ferr := s.resumeTime(ctx)
	if ferr != nil {
		p.log.Warn("poller: events cursor expired and the resume time is unknown; retrying", "err", ferr)
		return false, nil
	}
	p.log.Warn("poller: events cursor expired or invalid; resuming from a timestamp", "from_timestamp", from, "err", cause)
	s.offset, s.from = "", from
	return true, nil
}

func fromLog(p auth0.EventParams) string {
	if p.LastEventID != "" {
		return ""
	}
	return p.FromTimestamp.Format(time.RFC3339)
}

// consume reads the stream until it ends, publishing in batches. A reader
// goroutine keeps the connection drained while a batch publishes; items
// are handled in order, so an offset is persisted only after every event
// before it.
func (s *eventsSource) consume(ctx context.Context, st eventStream) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := s.read(rctx, st)
	// Up to eventsInFlight batches publish at once; a committer persists
	// their offsets strictly in stream order, each only after its own batch
	// and every earlier one are in the stream.
	flights := make(chan *flight, eventsInFlight-1)
	committed := s.commitInOrder(ctx, flights, cancel)
	streamErr := s.dispatch(rctx, items, flights)
	close(flights)
	if err := <-committed; err != nil {
		return err
	}
	if streamErr != nil {
		return streamErr
	}
	return ctx.Err()
}

// read runs the reader goroutine: the stream's items in order, ending with
// the first error (the channel is then closed).
func (s *eventsSource) read(ctx context.Context, st eventStream) <-chan streamItem {
	ch := make(chan streamItem, 4*eventsBatchMax)
	go func() {
		defer close(ch)
		for {
			ev, err := st.Next(ctx)
			if err != nil && ev.Offset != "" && ev.Type != "" {
				// An undecodable message still moves the offset: skip it
				// rather than read it again forever (reconcile catches a
				// user it carried).
				s.p.log.Warn("poller: undecodable events message skipped", "type", ev.Type, "offset", ev.Offset, "err", err)
				ev, err = auth0.Event{Type: "undecodable", Offset: ev.Offset}, nil
			}
			select {
			case ch <- streamItem{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// dispatch launches a flight per batch of items and hands it to the
// committer, until the items end, fail (the error is returned) or ctx ends.
func (s *eventsSource) dispatch(ctx context.Context, items <-chan streamItem, flights chan<- *flight) error {
	for ctx.Err() == nil {
		batch, more, err := nextBatch(items)
		if len(batch) > 0 {
			f := s.launch(ctx, batch)
			select {
			case flights <- f:
			case <-ctx.Done():
				<-f.done
			}
		}
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// nextBatch waits for the next item and adds those already queued, up to
// eventsBatchMax: a busy stream makes large batches, a quiet one publishes
// each event at once. more is false once the items ended; err is the
// stream's error (the events before it are in batch).
func nextBatch(items <-chan streamItem) (batch []auth0.Event, more bool, err error) {
	it, ok := <-items
	if !ok || it.err != nil {
		return nil, false, it.err
	}
	batch = make([]auth0.Event, 1, min(1+len(items), eventsBatchMax))
	batch[0] = it.ev
	for len(batch) < eventsBatchMax {
		select {
		case it, ok := <-items:
			if !ok || it.err != nil {
				return batch, false, it.err
			}
			batch = append(batch, it.ev)
		default:
			return batch, true, nil
		}
	}
	return batch, true, nil
}

// commitInOrder runs the committer: it waits for each flight in turn and
// persists its offset; flights that finished meanwhile are covered by the
// same save (one lease-checked write, not one per batch, when Redis is
// slower than the batches). The first failure cancels the stream (later
// flights are only waited for). The returned channel yields that failure
// (nil if none) once flights is closed and drained.
func (s *eventsSource) commitInOrder(ctx context.Context, flights <-chan *flight, cancel context.CancelFunc) <-chan error {
	committed := make(chan error, 1)
	go func() {
		q := &flightQueue{in: flights}
		var first error
		for f := q.next(); f != nil; f = q.next() {
			err := <-f.done
			if first != nil {
				continue
			}
			if err == nil {
				var later error
				f, later = q.coalesce(f)
				if err = s.commit(ctx, f.offset, f.newest); err == nil {
					err = later
				}
			}
			if err != nil {
				first = err
				cancel()
			}
		}
		committed <- first
	}()
	return committed
}

// flightQueue is the committer's view of the flights, in stream order. It
// looks ahead by one flight at most (which may still be publishing), as the
// committer before it held the one it waited on: the bound on batches
// publishing at once, eventsInFlight, is unchanged.
type flightQueue struct {
	in     <-chan *flight
	peeked *flight // received from in, not waited for yet
}

// next is the oldest flight not waited for; nil once in is closed and
// drained.
func (q *flightQueue) next() *flight {
	if f := q.peeked; f != nil {
		q.peeked = nil
		return f
	}
	return <-q.in // nil when closed
}

// peek is the flight after those taken, without waiting for one to be
// sent (nil when none is).
func (q *flightQueue) peek() *flight {
	if q.peeked == nil {
		select {
		case f := <-q.in:
			q.peeked = f
		default:
		}
	}
	return q.peeked
}

// coalesce extends done, a finished flight, by the flights after it that
// have finished too (without waiting): the newest offset and event time of
// the run. A flight of the run that failed ends it; its error is returned
// (the flights before it are still covered).
func (q *flightQueue) coalesce(done *flight) (*flight, error) {
	run := &flight{offset: done.offset, newest: done.newest}
	for f := q.peek(); f != nil; f = q.peek() {
		select {
		case err := <-f.done:
			q.peeked = nil
			if err != nil {
				return run, err
			}
			if f.offset != "" {
				run.offset = f.offset
			}
			if f.newest.After(run.newest) {
				run.newest = f.newest
			}
		default:
			return run, nil
		}
	}
	return run, nil
}

// eventsInFlight bounds the batches publishing at once.
const eventsInFlight = 4

// flight is one batch on its way into the stream.
type flight struct {
	done   chan error
	offset string    // the batch's newest offset ("" = none)
	newest time.Time // the batch's newest event time (zero = none)
}

// launch starts publishing the users of a batch, retrying until they are
// all in the stream or ctx ends.
func (s *eventsSource) launch(ctx context.Context, batch []auth0.Event) *flight {
	p := s.p
	f := &flight{done: make(chan error, 1)}
	users := make([]auth0.User, 0, len(batch))
	var oversized []string // offsets of messages too large to read
	for _, ev := range batch {
		if ev.Offset != "" {
			f.offset = ev.Offset
		}
		switch {
		case ev.TooLarge:
			oversized = append(oversized, ev.Offset)
		case ev.User != nil && slices.Contains(p.opts.Types, ev.Type):
			u := withKind(ev)
			users = append(users, u)
			if u.Problem == nil {
				if t, err := parseCreatedAt(publisher.EventTime(u)); err == nil && t.After(f.newest) {
					f.newest = t
				}
			}
		}
	}
	if len(users) == 0 && len(oversized) == 0 {
		f.done <- nil
		return f
	}
	go func() {
		ctx, span := p.startCycle(ctx, SourceEvents) // one events batch is one cycle
		defer span.End()
		for retry := newRetry(); ; {
			if len(oversized) > 0 && s.sink.oversized(ctx, oversized) == nil {
				oversized = nil
			}
			res, err := s.sink.publish(ctx, users, 0)
			if err == nil && res.done == len(users) && len(oversized) == 0 {
				f.done <- nil
				return
			}
			users = users[res.done:]
			if ctx.Err() != nil {
				f.done <- ctx.Err()
				return
			}
			p.log.Warn("poller: events batch not fully published; retrying", "pending", len(users), "err", err)
			if !tick.Sleep(ctx, retry.NextBackOff()) {
				f.done <- ctx.Err()
				return
			}
		}
	}()
	return f
}

// commit persists a published batch's offset and newest event time
// together (lease-checked).
func (s *eventsSource) commit(ctx context.Context, offset string, newest time.Time) error {
	p := s.p
	p.pollSucceeded()
	newest = notAfter(newest, time.Now())
	if (offset == "" || offset == s.offset) && !newest.After(s.newest) {
		return nil
	}
	if offset != "" {
		s.offset = offset
	}
	if newest.After(s.newest) {
		s.newest = newest
	}
	cur := eventsCursor{Offset: s.offset}
	if !s.newest.IsZero() {
		cur.Time = formatCreatedAt(s.newest)
	}
	if err := p.saveCursor(ctx, func(c context.Context) error { return p.cursors.saveEvents(c, cur) }); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
		p.log.Warn("poller: events offset not saved; the next batch retries", "err", err)
	}
	return nil
}

// resumeTime is from_timestamp without a valid offset after a first start:
// the newest event time published (kept in cursor:events; the stream's tail
// only when unknown) minus the overlap, or the start point when nothing was
// published yet. Never past the worker's clock.
func (s *eventsSource) resumeTime(ctx context.Context) (time.Time, error) {
	p := s.p
	last := s.newest
	if last.IsZero() {
		var err error
		if last, err = lastPublished(ctx, p.opts.Publisher); err != nil {
			return time.Time{}, fmt.Errorf("newest published created_at: %w", err)
		}
	}
	if last.IsZero() {
		return p.startTime(), nil
	}
	return notAfter(last, time.Now()).Add(-p.opts.Overlap), nil
}

// withKind is the event's user marked with its life-cycle type and, for
// updated and deleted events, the Auth0 event's time (the fallback of
// publisher.EventTime). created events keep the hot path: no extra parse.
func withKind(ev auth0.Event) auth0.User {
	u := *ev.User
	if ev.Type == publisher.TypeCreated {
		return u
	}
	u.Kind = ev.Type
	var m struct {
		Event struct {
			Time string `json:"time"`
		} `json:"event"`
	}
	if json.Unmarshal(ev.Data, &m) == nil {
		u.EventTime = m.Event.Time
	}
	return u
}
