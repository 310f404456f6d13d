package poller

import (
	"context"
	"errors"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// backfill serves POLL_START=all (or an RFC 3339 time) with the events
// source: a one-time search from the search cursor (or the start point) up
// to until, the moment streaming starts; the events stream then starts at
// until − overlap, and reconcile covers the seam. Progress is the search
// cursor, so a backfill interrupted by a crash or a leader change resumes.
func (p *Poller) backfill(ctx context.Context, until time.Time) error {
	s := &searchSource{p: p}
	var err error
	for attempt := 0; ; attempt++ {
		s.cur, err = p.initSearchCursor(ctx, false)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, ErrLeaseLost) {
			return err
		}
		if !sleepCtx(ctx, retryDelay(attempt)) {
			return ctx.Err()
		}
	}
	p.log.Info("poller: backfill by search before streaming", "from", s.cur.CreatedAt, "until", formatCreatedAt(until))
	for attempt := 0; ; attempt++ {
		total := 0
		start := time.Now()
		reqs, err := scan(ctx, p.opts.Searcher, s.cur.windowStart(p.opts.Overlap), until, "", func(users []auth0.User) error {
			res, err := p.publishBatch(ctx, SourceSearch, users, 0)
			total += res.published
			if res.done > 0 {
				if err := s.advance(ctx, users[res.done-1]); err != nil {
					return err
				}
			}
			return err
		})
		if err == nil {
			p.log.Info("poller: backfill done", "published", total, "requests", reqs, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrLeaseLost) {
			return err
		}
		p.log.Warn("poller: backfill interrupted; resuming from the cursor", "err", err)
		if !sleepCtx(ctx, retryDelay(attempt)) {
			return ctx.Err()
		}
	}
}
