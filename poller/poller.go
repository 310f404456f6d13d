// Package poller is the new-user trigger: it watches the Auth0 tenant for
// created users (Events API stream, search polling, or both with fallback)
// and publishes each one as a user.created event, exactly once in normal
// operation: dedupe.Seen → publish → dedupe.Mark (only what JetStream
// acknowledged) → cursor advance (lease-checked Lua).
//
// Only one replica polls at a time: a Redis lease (README "Scale-out") elects the
// leader; the others wait and take over within 1.5 × LeaseTTL of a crash.
// All state lives in Redis (lease, cursors, seen-set) and JetStream (the
// events), so a process can be killed at any moment.
package poller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/tick"
	"github.com/auth0-worker/auth0-worker/internal/tracing"
)

// Poller is the trigger side. Create it with New and call Run once.
type Poller struct {
	opts    Options
	start   pollstart.Start
	log     *slog.Logger
	m       *metrics.Metrics
	lease   *lease
	cursors *cursors
	pipe    *pipeline
	tr      trace.Tracer // nil: tracing off

	created   time.Time // POLL_START=now means this moment
	subscribe subscribeFunc

	mu        sync.Mutex
	cancelLed context.CancelCauseFunc // cancels the current leadership
	cancelRun context.CancelFunc      // ends Run (tests)
	recv      *receiver               // the Event Streams receiver, when configured

	// abandon (tests) makes Run return without releasing the lease, like a
	// crashed process.
	abandon atomic.Bool
}

// New validates opts (filling defaults) and returns a Poller. It does no I/O.
func New(opts Options) (*Poller, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Poller{opts: opts, start: opts.Start, log: opts.Logger, m: opts.Metrics, created: time.Now(),
		tr: tracing.Tracer(opts.TracerProvider, "poller")}
	p.lease = newLease(opts.Redis, opts.Keys.Lease(), opts.LeaseTTL, p.log, p.m)
	p.cursors = &cursors{l: p.lease, searchKey: opts.Keys.CursorSearch(), eventsKey: opts.Keys.CursorEvents()}
	p.pipe = &pipeline{pub: opts.Publisher, dd: opts.Dedupe, m: p.m, log: p.log}
	if opts.Events != nil {
		p.subscribe = subscriberFunc(opts.Events)
	}
	return p, nil
}

// IsLeader reports whether this instance holds the lease and polls.
func (p *Poller) IsLeader() bool { return p.lease.leader.Load() }

// Run campaigns for the lease and polls while it holds it, until ctx ends.
// On the way out it lets the batch in flight finish (publish, mark, cursor;
// bounded by a few seconds) and releases the lease. It returns nil after a
// normal shutdown.
func (p *Poller) Run(ctx context.Context) (err error) {
	defer p.setSource("")
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	p.mu.Lock()
	p.cancelRun = cancelRun
	p.mu.Unlock()
	pushDone, err := p.startPush(ctx, cancelRun)
	if err != nil {
		return err
	}
	defer func() {
		cancelRun()
		if e := <-pushDone; e != nil && err == nil {
			err = e
		}
	}()
	p.campaign(ctx)
	return nil
}

// campaign tries for the lease every LeaseTTL/5, standing by while another
// instance holds it and leading while this one does, until ctx ends.
func (p *Poller) campaign(ctx context.Context) {
	retry := p.opts.LeaseTTL / 5
	following := false
	for ctx.Err() == nil {
		acquiredAt := time.Now()
		ok, err := p.lease.tryAcquire(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("poller: lease attempt failed; retrying", "err", err)
		}
		if !ok {
			if !following && err == nil {
				p.log.Info("poller: another instance holds the lease; standing by")
				following = true
			}
			tick.Sleep(ctx, retry)
			continue
		}
		following = false
		if abandoned := p.leadTerm(ctx, acquiredAt); abandoned {
			return
		}
		if ctx.Err() == nil {
			tick.Sleep(ctx, retry)
		}
	}
	p.log.Info("poller: stopped")
}

// leadTerm polls while the lease acquired at acquiredAt holds (until it is
// lost, renewals fail or ctx ends), then releases it. It reports abandoned
// when the abandon test hook made it leave without releasing, like a crash.
func (p *Poller) leadTerm(ctx context.Context, acquiredAt time.Time) (abandoned bool) {
	p.log.Info("poller: lease acquired; polling", "lease_ttl", p.opts.LeaseTTL)
	lctx, stop := p.lease.lead(ctx, acquiredAt)
	lctx, cancel := context.WithCancelCause(lctx)
	p.mu.Lock()
	p.cancelLed = cancel
	p.mu.Unlock()

	err := p.lead(lctx)

	cause := context.Cause(lctx)
	cancel(nil)
	stop()
	p.setSource("")
	if p.abandon.Load() {
		return true
	}
	if ctx.Err() == nil {
		p.log.Warn("poller: leadership ended; standing by", "cause", cause, "err", err)
	}
	// Released when still ours: on shutdown, and when renewals were
	// too slow but Redis still has our key (so another takes over now).
	p.lease.release()
	return false
}

// startPush starts every configured push source (no lease: they run on
// every replica). The returned channel yields the first push source error
// (nil when all ended with ctx) once they all returned; a failing push
// source stops Run through stop.
func (p *Poller) startPush(ctx context.Context, stop context.CancelFunc) (<-chan error, error) {
	var srcs []Source
	var regs []Registration
	for _, r := range sourcesOf(Push) {
		src, err := r.New(p)
		if err != nil {
			return nil, fmt.Errorf("poller: source %s: %w", r.Name, err)
		}
		if src != nil {
			srcs, regs = append(srcs, src), append(regs, r)
		}
	}
	done := make(chan error, 1)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := src.Run(ctx, sink{p: p, label: regs[i].label()}); err != nil && ctx.Err() == nil {
				once.Do(func() { first = fmt.Errorf("poller: source %s: %w", regs[i].Name, err) })
				stop()
			}
		}()
	}
	go func() { wg.Wait(); done <- first }()
	return done, nil
}

// leaseLost is called when a cursor write found another token.
func (p *Poller) leaseLost() {
	p.mu.Lock()
	c := p.cancelLed
	p.mu.Unlock()
	if c != nil {
		c(ErrLeaseLost)
	}
}

// flushCtx keeps a batch in flight alive for up to flushGrace after ctx
// ends, so a shutdown publishes, marks and saves the cursor of what it
// started instead of abandoning it half way. done must be called.
func flushCtx(ctx context.Context) (fctx context.Context, done func()) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(flushGrace, cancel) })
	return fctx, func() { stop(); cancel() }
}

// flushGrace bounds the work finished after shutdown or lost leadership.
const flushGrace = 5 * time.Second

// withFlush runs f under flushCtx.
func withFlush(ctx context.Context, f func(context.Context) error) error {
	fctx, done := flushCtx(ctx)
	defer done()
	return f(fctx)
}

// lead runs the configured pull source (from the registry) while this
// instance is the leader.
func (p *Poller) lead(ctx context.Context) error {
	name := p.opts.effectiveSource()
	r, _ := lookup(name) // validate checked it
	src, err := r.New(p)
	if err != nil || src == nil {
		return fmt.Errorf("poller: source %s: %w", name, errOr(err))
	}
	return src.Run(ctx, sink{p: p, label: r.label()})
}
