package poller

import (
	"context"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// prepare picks where the stream starts: the saved offset; otherwise, on a
// first start, POLL_START (a backfill by search for "all" or a time); or,
// after a fallback or a lost offset, the newest published created_at minus
// the overlap.
func (s *eventsSource) prepare(ctx context.Context, afterFallback bool) error {
	p := s.p
	if s.offset != "" && !afterFallback {
		return nil
	}
	cur, found, err := p.cursors.loadEvents(ctx)
	if _, err := p.skipUnreadable(err); err != nil {
		return err
	}
	s.newest = notAfter(cur.time(), time.Now())
	if cur.Offset != "" {
		s.offset = cur.Offset
		return nil
	}
	last := s.newest
	if !found {
		// No resume point of its own (first start, or a worker from before
		// it kept one): the stream's tail, foreign messages skipped.
		if last, err = lastPublished(ctx, p.opts.Publisher); err != nil {
			return err
		}
		last = notAfter(last, time.Now())
	}
	if !last.IsZero() && p.start.Mode == pollstart.Now {
		s.from = last.Add(-p.opts.Overlap)
		return nil
	}
	if p.start.Mode == pollstart.Now {
		return s.keepStartPoint(ctx)
	}
	// Backfill every time there is no offset: cheap when the search cursor
	// is recent, and it covers anything older than the stream's reach.
	until := time.Now()
	if err := s.backfill(ctx, until); err != nil {
		return err
	}
	s.from = until.Add(-p.opts.Overlap)
	return nil
}

// keepStartPoint starts from POLL_START=now. The start point must outlive
// a crash that comes before the first offset is saved or the first user
// published: otherwise the restart would take a new "now" and skip whoever
// signed up in between. It is kept as the search cursor's POLL_START
// marker (lease-checked write).
func (s *eventsSource) keepStartPoint(ctx context.Context) error {
	p := s.p
	cur, ok, err := p.cursors.loadSearch(ctx)
	if _, err := p.skipUnreadable(err); err != nil {
		return err
	}
	if ok {
		s.from = cur.windowStart(p.opts.Overlap)
		return nil
	}
	start := p.startTime()
	if err := p.cursors.saveSearch(ctx, searchCursor{CreatedAt: formatCreatedAt(start)}); err != nil {
		return err
	}
	s.from = start
	return nil
}

// backfill runs the backfill source up to until, under its own label.
func (s *eventsSource) backfill(ctx context.Context, until time.Time) error {
	return (&backfillSource{p: s.p, until: until}).Run(ctx, s.sink.forSource(SourceBackfill))
}
