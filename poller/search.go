package poller

import (
	"context"
	"errors"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

func init() {
	Register(Registration{Name: SourceSearch, Mode: Pull, Selectable: true,
		New: func(p *Poller) (Source, error) { return &searchSource{p: p.pullDeps()}, nil }})
}

// searchSource is the search source (Make's "Watch new users"): every
// Interval, q=created_at:[<cursor − overlap> TO *] AND (<Query>), sorted by
// created_at, at most Limit users published per cycle. The cursor is the
// newest published user and advances only past published users.
type searchSource struct {
	p *pullDeps
	// sink publishes under the search label (set by run).
	sink Sink
	cur  searchCursor
	// safe (in memory, this leadership only) is a created_at below which
	// every user is known to be published: a cycle that read its whole
	// window at t0 leaves nothing unpublished before t0 − 2 × overlap (the
	// lag bound, doubled for clock skew with Auth0), and a cycle cut short
	// leaves nothing before the last user it finished. It spares a backlog
	// (POLL_LIMIT cycles far behind now) the overlap re-read; in steady
	// state the cursor's own window start is the later one.
	safe time.Time
}

// windowStart is where the next cycle reads from.
func (s *searchSource) windowStart() time.Time {
	w := s.cur.windowStart(s.p.opts.Overlap)
	if s.safe.After(w) {
		return s.safe
	}
	return w
}

// awaitSearchCursor is initSearchCursor asked again (with backoff) until it
// answers, ctx ends or the lease is lost.
func (p *pullDeps) awaitSearchCursor(ctx context.Context, fallback bool) (searchCursor, error) {
	for retry := newRetry(); ; {
		cur, err := p.initSearchCursor(ctx, fallback)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrLeaseLost) {
			return cur, err
		}
		p.log.Warn("poller: search cursor unavailable; retrying", "err", err)
		if !tick.Sleep(ctx, retry.NextBackOff()) {
			return cur, ctx.Err()
		}
	}
}

// initSearchCursor loads the search cursor, or creates the start point:
// the POLL_START point on a first start, or — when the events source ran
// before (auto fallback) — the newest published created_at minus the overlap.
func (p *pullDeps) initSearchCursor(ctx context.Context, fallback bool) (searchCursor, error) {
	cur, ok, err := p.cursors.loadSearch(ctx)
	unreadable, err := p.skipUnreadable(err)
	if err != nil {
		return cur, err
	}
	// Without its cursor, the search resumes after the newest published
	// user, as after a fallback (dedupe absorbs the overlap).
	fallback = fallback || unreadable
	var start searchCursor
	if fallback {
		last, err := lastPublished(ctx, p.opts.Publisher)
		if err != nil {
			return cur, err
		}
		if !last.IsZero() {
			start = searchCursor{CreatedAt: formatCreatedAt(last.Add(-p.opts.Overlap))}
		}
	}
	if start.CreatedAt == "" && !ok {
		start = searchCursor{CreatedAt: formatCreatedAt(p.startTime())}
	}
	if start.CreatedAt != "" && (!ok || start.windowStart(p.opts.Overlap).After(cur.windowStart(p.opts.Overlap))) {
		if err := p.cursors.saveSearch(ctx, start); err != nil {
			return cur, err
		}
		return start, nil
	}
	return cur, nil
}

// Run polls until ctx ends, or returns the error of a lost lease.
func (s *searchSource) Run(ctx context.Context, sink Sink) error {
	s.p.setSource(SourceSearch)
	return s.run(ctx, sink, false)
}

// run polls; fallback: auto runs it while the Events API refuses this
// client, so the cursor starts no earlier than the newest published user.
func (s *searchSource) run(ctx context.Context, sink Sink, fallback bool) error {
	p := s.p
	s.sink = sink
	var err error
	if s.cur, err = p.awaitSearchCursor(ctx, fallback); err != nil {
		return err
	}
	p.log.Info("poller: search source running", "cursor", s.cur.CreatedAt, "interval", p.opts.Interval, "limit", p.opts.Limit)
	for {
		start := time.Now()
		cctx, span := p.startCycle(ctx, SourceSearch)
		err := s.cycle(cctx)
		endCycle(span, err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
		outcome := "ok"
		if err != nil {
			outcome = "error"
			p.log.Warn("poller: search cycle failed; next cycle retries", "err", err)
		} else {
			p.pollSucceeded()
		}
		p.cycleDone(SourceSearch, outcome)
		if !tick.Sleep(ctx, p.opts.Interval-time.Since(start)) {
			return ctx.Err()
		}
	}
}

// cycle is one poll: scan from the cursor's window start, publish, advance.
func (s *searchSource) cycle(ctx context.Context) error {
	p := s.p
	published := 0
	from, t0 := s.windowStart(), time.Now()
	var through time.Time // created_at of the last user finished, in order
	stopped := false
	_, err := scan(ctx, p.opts.Searcher, from, time.Time{}, p.opts.Query, func(users []auth0.User) error {
		users = s.afterFloor(users)
		res, err := s.sink.publish(ctx, users, p.opts.Limit-published)
		published += res.published
		if u, t, ok := lastTimed(users[:res.done]); ok {
			through = t
			if err := s.advance(ctx, u); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if res.done < len(users) || published >= p.opts.Limit {
			if published >= p.opts.Limit {
				p.log.Info("poller: POLL_LIMIT reached; the rest follows next cycle", "limit", p.opts.Limit)
			}
			stopped = true
			return errStop
		}
		return nil
	})
	bound := t0.Add(-2 * p.opts.Overlap)
	if (err != nil || stopped) && through.Before(bound) {
		bound = through
	}
	if bound.After(from) {
		s.safe = bound
	} else {
		s.safe = from
	}
	return err
}

// afterFloor drops users created before a start point (cursor without a
// user id): POLL_START=now must not publish the users created just before.
func (s *searchSource) afterFloor(users []auth0.User) []auth0.User {
	if s.cur.UserID != "" {
		return users
	}
	floor := s.cur.time()
	cut := 0 // after the last user known to be before the floor
	for i, u := range users {
		t, err := parseCreatedAt(u.CreatedAt)
		if err != nil {
			continue // unusable: its neighbours say where it lies
		}
		if !t.Before(floor) {
			break
		}
		cut = i + 1
	}
	return users[cut:]
}

// advance moves the cursor to u when that moves its window forward. From a
// start point, it moves only once the new window no longer reaches before
// the start point.
func (s *searchSource) advance(ctx context.Context, u auth0.User) error {
	p := s.p
	t, err := parseCreatedAt(u.CreatedAt)
	if err != nil {
		return nil
	}
	next := searchCursor{CreatedAt: u.CreatedAt, UserID: u.UserID}
	if now := time.Now(); t.After(now) {
		next.CreatedAt = formatCreatedAt(now) // never past the worker's clock
	}
	if !next.windowStart(p.opts.Overlap).After(s.cur.windowStart(p.opts.Overlap)) {
		return nil
	}
	if err := p.saveCursor(ctx, func(c context.Context) error { return p.cursors.saveSearch(c, next) }); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
		// Redis trouble: keep the in-memory cursor behind; the next write
		// catches up.
		p.log.Warn("poller: search cursor not saved", "err", err)
		return nil
	}
	s.cur = next
	return nil
}
