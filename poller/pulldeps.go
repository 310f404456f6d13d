package poller

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// pullDeps is the machinery the built-in pull sources share, handed to
// them explicitly rather than through the Poller: the options and start
// point, logs, metrics and traces, the lease-checked cursors,
// and two calls back into the leadership (a cursor write found another
// leader; which source is active).
type pullDeps struct {
	opts      *Options // read only
	start     pollstart.Start
	created   time.Time // POLL_START=now means this moment
	log       *slog.Logger
	m         *metrics.Metrics // nil: no metrics
	cursors   *cursors
	subscribe subscribeFunc // nil without Options.Events
	// startCycle starts the span of one cycle of a source (trace.go).
	startCycle func(ctx context.Context, source string) (context.Context, trace.Span)
	// leaseLost ends this leadership.
	leaseLost func()
	// setSource sets source_active.
	setSource func(active string)
}

// pullDeps is what p gives its pull sources.
func (p *Poller) pullDeps() *pullDeps {
	return &pullDeps{opts: &p.opts, start: p.start, created: p.created, log: p.log, m: p.m,
		cursors: p.cursors, subscribe: p.subscribe, startCycle: p.startCycle, leaseLost: p.leaseLost, setSource: p.setSource}
}

// startTime is the POLL_START point: for "now" the moment the Poller was
// created (not when it first led: users created while it waited for the
// lease, or while events were being refused, count), the epoch for "all",
// or the given time.
func (p *pullDeps) startTime() time.Time {
	switch p.start.Mode {
	case pollstart.All:
		return time.Unix(0, 0).UTC()
	case pollstart.Time:
		return p.start.Time
	}
	return p.created
}

// saveCursor runs a lease-checked cursor write under flushCtx; a write
// that found another leader's token ends this leadership.
func (p *pullDeps) saveCursor(ctx context.Context, write func(context.Context) error) error {
	err := withFlush(ctx, write)
	if errors.Is(err, ErrLeaseLost) {
		p.leaseLost()
	}
	return err
}

// cycleDone counts one poll cycle (or events connection) of source.
func (p *pullDeps) cycleDone(source, outcome string) {
	if p.m != nil {
		p.m.PollCycles.WithLabelValues(source, outcome).Inc()
	}
}

// pollSucceeded sets last_poll_success to now.
func (p *pullDeps) pollSucceeded() {
	if p.m != nil {
		p.m.LastPollSuccess.SetToCurrentTime()
	}
}

// skipUnreadable turns an unreadable stored cursor into none, logged as an
// error: the caller then resumes as when the cursor is missing (from the
// newest published user where there is one) and overwrites it, rather than
// retrying a value no retry can change. Other errors pass unchanged.
func (p *pullDeps) skipUnreadable(err error) (unreadable bool, _ error) {
	if !errors.Is(err, errUnreadableCursor) {
		return false, err
	}
	p.log.Error("poller: stored cursor unreadable; resuming without it", "err", err)
	return true, nil
}
