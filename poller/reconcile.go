package poller

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

// reconcileDelay is the upper end of the reconcile window (now − 60s): the
// events stream has surely delivered anything older, and search has indexed it.
const reconcileDelay = 60 * time.Second

func init() {
	// Not selectable: the events source runs it beside itself.
	Register(Registration{Name: SourceReconcile, Mode: Pull})
}

// reconcileSource runs beside the events source: every ReconcileInterval,
// a search over [now − interval − overlap, now − 60s] publishes anything the
// stream missed, counted in ReconcileFound.
type reconcileSource struct {
	p    *pullDeps
	sink Sink
}

// newReconcile is the reconcile source, nil when RECONCILE_INTERVAL is off.
func newReconcile(p *pullDeps) Source {
	if p.opts.ReconcileInterval <= 0 {
		return nil
	}
	return &reconcileSource{p: p}
}

// Run makes a pass every interval until ctx ends (nil), or returns the
// error of a lost lease.
func (s *reconcileSource) Run(ctx context.Context, sink Sink) error {
	s.sink = sink
	iv := s.p.opts.ReconcileInterval
	var lost error
	tick.Every(ctx, iv, iv, func() bool {
		lost = s.pass(ctx)
		return lost == nil
	})
	return lost
}

// pass makes one reconcile pass; its only error is a lost lease (a failed
// pass is logged and the next one retries).
func (s *reconcileSource) pass(ctx context.Context) error {
	p := s.p
	cctx, span := p.startCycle(ctx, SourceReconcile)
	found, err := s.once(cctx, time.Now())
	endCycle(span, err)
	if errors.Is(err, ErrLeaseLost) {
		return err
	}
	outcome := "ok"
	if err != nil && ctx.Err() == nil {
		outcome = "error"
		p.log.Warn("poller: reconcile pass failed; the next one retries", "err", err)
	}
	if ctx.Err() == nil {
		p.cycleDone(SourceReconcile, outcome)
	}
	if found > 0 {
		p.log.Warn("poller: reconcile published users the events stream had not delivered", "count", found)
	}
	return nil
}

// once is one pass; it returns how many users it published.
func (s *reconcileSource) once(ctx context.Context, now time.Time) (int, error) {
	p := s.p
	from := now.Add(-p.opts.ReconcileInterval - p.opts.Overlap)
	to := now.Add(-reconcileDelay)
	if !to.After(from) {
		return 0, nil
	}
	found := 0
	_, err := scan(ctx, p.opts.Searcher, from, to, p.opts.Query, func(users []auth0.User) error {
		for retry := newRetry(); len(users) > 0; {
			res, err := s.sink.publish(ctx, users, 0)
			found += res.published
			for _, id := range res.publishedIDs {
				p.log.Info("poller: reconcile found a user the stream missed", "user_id", id[:strings.LastIndexByte(id, '@')], "event_id", id)
			}
			if p.m != nil && res.published > 0 {
				p.m.ReconcileFound.Add(float64(res.published))
			}
			users = users[res.done:]
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !tick.Sleep(ctx, retry.NextBackOff()) {
				return ctx.Err()
			}
		}
		return nil
	})
	return found, err
}
