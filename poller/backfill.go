package poller

import (
	"context"
	"errors"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

func init() {
	// Not selectable: the events source runs it. Its users are found by
	// search and counted as such (the `source` label has no backfill value).
	Register(Registration{Name: SourceBackfill, Label: SourceSearch, Mode: Pull})
}

// backfillSource serves POLL_START=all (or an RFC 3339 time) with the
// events source: a one-time search from the search cursor (or the start
// point) up to until, the moment streaming starts; the events stream then
// starts at until − overlap, and reconcile covers the seam. Progress is the
// search cursor, so a backfill interrupted by a crash or a leader change
// resumes.
type backfillSource struct {
	p     *pullDeps
	until time.Time
}

// Run returns nil once the backfill is done (unlike the other sources, it
// ends by itself), ctx's error when it ends first, the error of a lost
// lease, or a refusal of the search.
func (b *backfillSource) Run(ctx context.Context, sink Sink) error {
	p, until := b.p, b.until
	s := &searchSource{p: p}
	var err error
	if s.cur, err = p.awaitSearchCursor(ctx, false); err != nil {
		return err
	}
	for retry := newRetry(); ; {
		from := s.cur.windowStart(p.opts.Overlap)
		// The stream's newest event bounds what is left: a backfill publishes
		// in created_at order, so a restart (or a lost offset long after the
		// backfill) resumes there rather than from an old search cursor.
		if last, err := lastPublished(ctx, p.opts.Publisher); err == nil && last.Add(-p.opts.Overlap).After(from) {
			from = last.Add(-p.opts.Overlap)
		}
		p.log.Info("poller: backfill by search before streaming", "from", formatCreatedAt(from), "until", formatCreatedAt(until))
		total := 0
		start := time.Now()
		reqs, err := scan(ctx, p.opts.Searcher, from, until, "", func(users []auth0.User) error {
			res, err := sink.publish(ctx, users, 0)
			total += res.published
			if u, _, ok := lastTimed(users[:res.done]); ok {
				if err := s.advance(ctx, u); err != nil {
					return err
				}
			}
			return err
		})
		if err == nil {
			p.log.Info("poller: backfill done", "published", total, "requests", reqs, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrLeaseLost) || isRefusal(err) {
			return err
		}
		p.log.Warn("poller: backfill interrupted; resuming from the cursor", "err", err)
		if !tick.Sleep(ctx, retry.NextBackOff()) {
			return ctx.Err()
		}
	}
}
