package poller

import (
	"context"
	"errors"
)

func init() {
	Register(Registration{Name: SourceAuto, Mode: Pull, Selectable: true, Wraps: []string{SourceEvents, SourceSearch},
		EventsAPI: true, Fallback: SourceSearch,
		New: func(p *Poller) (Source, error) {
			d := p.pullDeps()
			return &autoSource{p: d, events: newEventsSource(d)}, nil
		}})
}

// autoSource (POLL_SOURCE=auto) runs the events source and, while the
// Events API refuses this client (403 insufficient_scope, 404), the search
// source, trying events again every EventsRetry. Reconcile runs beside both
// from the first time events could start.
type autoSource struct {
	p      *pullDeps
	events *eventsSource
}

// Run returns nil when ctx ends, or the error of a lost lease.
func (a *autoSource) Run(ctx context.Context, sink Sink) error {
	ctx, side := newSidecar(ctx, a.events.reconcile, sink.forSource(SourceReconcile))
	defer side.stop()
	for fallback := false; ctx.Err() == nil; fallback = true {
		err := a.events.follow(ctx, sink.forSource(SourceEvents), side, fallback)
		if !errors.Is(err, errRefused) {
			return err
		}
		a.logFallback(err)
		a.p.setSource(SourceSearch)
		sctx, cancel := context.WithTimeout(ctx, a.p.opts.EventsRetry)
		err = (&searchSource{p: a.p}).run(sctx, sink.forSource(SourceSearch), true)
		cancel()
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
	}
	return nil
}

// logFallback says why search runs now, and what it cannot carry.
func (a *autoSource) logFallback(err error) {
	p := a.p
	if p.opts.wantsLifeCycle() {
		// Search cannot see updates or deletions (README "User life cycle").
		p.log.Error("poller: the Events API refused this client; falling back to search, which carries user.created only: updates and deletions reach JetStream only through the receiver until the Events API is back — grant read:events", "err", err, "event_types", p.opts.Types, "retry_events_in", p.opts.EventsRetry)
		return
	}
	p.log.Warn("poller: the Events API refused this client; falling back to search", "err", err, "retry_events_in", p.opts.EventsRetry)
}
