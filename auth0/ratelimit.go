package auth0

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/retryafter"
)

// gate is the client's shared view of Auth0's rate budget. Every request
// passes acquire before it is sent and release when its answer (or failure)
// is known.
//
// Rules, from Auth0's headers:
//   - After a 429, nothing is sent before its Retry-After / X-RateLimit-Reset.
//     A later 429 that pushes the time further wakes the waiters, which then
//     wait for the new time.
//   - Otherwise at most Remaining requests are in flight at once (the last
//     answer's X-RateLimit-Remaining), so with Remaining 0 nothing is sent
//     until X-RateLimit-Reset. Once that reset has passed the budget is
//     unknown, and requests go one at a time until an answer tells the new
//     Remaining — this is what keeps 50 goroutines on a 10 req/s bucket from
//     earning a burst of 429s every second.
//   - Before the first answer with headers one request goes at a time.
type gate struct {
	mu       sync.Mutex
	blocked  time.Time // no request before this (429)
	known    bool      // remaining/reset come from a real answer
	remain   int
	reset    time.Time
	inflight int
	waiting  int           // goroutines blocked in acquire
	wake     chan struct{} // closed and replaced when the state changes
}

func newGate() *gate {
	return &gate{wake: make(chan struct{})}
}

// rateInfo is what one answer said about the budget.
type rateInfo struct {
	ok         bool // X-RateLimit-Remaining present and valid
	limit      int
	remaining  int
	reset      time.Time // zero if absent
	retryAfter time.Time // zero if absent
}

func parseRateInfo(h http.Header, now time.Time) rateInfo {
	var ri rateInfo
	if v := h.Get("X-RateLimit-Remaining"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			ri.ok, ri.remaining = true, n
		}
	}
	if v := h.Get("X-RateLimit-Limit"); v != "" {
		ri.limit, _ = strconv.Atoi(v)
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			ri.reset = time.Unix(n, 0)
		}
	}
	if t, ok := retryafter.At(h.Get("Retry-After"), now); ok {
		ri.retryAfter = t
	}
	return ri
}

// retryAt is when a 429 said tokens return: the later of Retry-After and
// the reset (zero if neither was given).
func (ri rateInfo) retryAt() time.Time {
	t := ri.retryAfter
	if ri.reset.After(t) {
		t = ri.reset
	}
	return t
}

// acquire waits until a request may be sent; the caller must call release
// exactly once afterwards.
func (g *gate) acquire(ctx context.Context) error {
	var timer gateTimer
	defer timer.stop()
	for {
		g.mu.Lock()
		now := time.Now()
		mayGo, until := g.admits(now)
		if mayGo {
			g.inflight++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.waiting++
		g.mu.Unlock()

		if err := g.wait(ctx, wake, until, now, &timer); err != nil {
			return err
		}
	}
}

// admits says whether a request may be sent at now; if not, until is when
// the budget returns (zero: only a state change, a wake, can help).
// g.mu must be held.
func (g *gate) admits(now time.Time) (mayGo bool, until time.Time) {
	switch {
	case now.Before(g.blocked):
		until = g.blocked
	case !g.known:
		mayGo = g.inflight == 0 // first contact: learn the budget with one request
	case g.inflight < g.remain:
		mayGo = true
	case !g.reset.IsZero() && now.Before(g.reset):
		until = g.reset // budget used up until the reset
	case g.inflight == 0:
		mayGo = true // past the reset: probe, one at a time
	}
	return mayGo, until
}

// wait is one of acquire's waits, counted in g.waiting: until wake closes,
// until passes (if not zero; now is when admits looked) or ctx ends. Only
// ctx's end is an error.
func (g *gate) wait(ctx context.Context, wake <-chan struct{}, until, now time.Time, timer *gateTimer) error {
	var tc <-chan time.Time
	if !until.IsZero() {
		tc = timer.after(until.Sub(now))
	}
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-wake:
	case <-tc:
	}
	g.mu.Lock()
	g.waiting--
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if tc != nil {
		timer.drain()
	}
	return nil
}

// gateTimer is the one timer acquire reuses across its waits.
type gateTimer struct{ t *time.Timer }

// after returns a channel that receives once d has passed.
func (gt *gateTimer) after(d time.Duration) <-chan time.Time {
	if gt.t == nil {
		gt.t = time.NewTimer(d)
	} else {
		gt.t.Reset(d)
	}
	return gt.t.C
}

// drain stops the timer and empties its channel, so the next after starts
// clean.
func (gt *gateTimer) drain() {
	if !gt.t.Stop() {
		select {
		case <-gt.t.C:
		default:
		}
	}
}

func (gt *gateTimer) stop() {
	if gt.t != nil {
		gt.t.Stop()
	}
}

// release ends one request. ri is what its answer said (zero on a transport
// failure); status is its HTTP status (0 on failure).
func (g *gate) release(ri rateInfo, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	now := time.Now()
	if ri.ok {
		if g.known && ri.reset.Equal(g.reset) && ri.remaining > g.remain {
			// Same window: answers arrive out of order, and an older one
			// reports more tokens than are left. Keep the lower count.
		} else {
			g.remain = ri.remaining
			g.reset = ri.reset
		}
		g.known = true
	} else if status != 0 && !g.known {
		// An answer without rate headers (a proxy, an endpoint that sends
		// none): nothing to follow, so stop probing one at a time.
		g.known, g.remain = true, 1<<30
	}
	if status == http.StatusTooManyRequests {
		g.known = true
		g.remain = 0
		at := ri.retryAt()
		if !at.After(now) {
			// No usable time (or a clock behind Auth0's): a short pause
			// rather than a hot loop; the caller's backoff adds more.
			at = now.Add(250 * time.Millisecond)
		}
		if at.After(g.blocked) {
			g.blocked = at
		}
		if ri.reset.Before(at) {
			g.reset = at
		}
	}
	close(g.wake)
	g.wake = make(chan struct{})
}

// blockedUntil is the time before which no request is sent (for tests and
// NakWithDelay-style callers).
func (g *gate) blockedUntil() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.blocked
}
