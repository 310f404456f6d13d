// Package limits states, once, the defaults and the bounds of the settings
// that both config (which refuses bad values at start) and the components
// (poller, consumer: which fill zero values and refuse bad Options) know
// about. It imports nothing of the worker, so config, poller and consumer can
// all refer to it without importing each other.
package limits

import (
	"fmt"
	"strings"
	"time"
)

// Poller (POLL_*, RECONCILE_INTERVAL, LEASE_TTL).
const (
	// PollLimit is the default of POLL_LIMIT; at least MinPollLimit.
	PollLimit    = 1000
	MinPollLimit = 1
	// PollInterval is the default of POLL_INTERVAL; more than 0.
	PollInterval    = 10 * time.Second
	MinPollInterval = time.Millisecond
	// PollOverlap is the default of POLL_OVERLAP; 0 or more.
	PollOverlap = 2 * time.Minute
	// ReconcileInterval is the default of RECONCILE_INTERVAL; 0 = off.
	ReconcileInterval = 10 * time.Minute
	// LeaseTTL is the default of LEASE_TTL. MinLeaseTTL is the smallest the
	// lease accepts: renewals run every LEASE_TTL/3 and the leader stops a
	// margin before expiry, so a shorter lease leaves no time to poll.
	LeaseTTL    = 15 * time.Second
	MinLeaseTTL = 300 * time.Millisecond
	// DedupeTTL is the default of DEDUPE_TTL; at least MinDedupeTTL.
	DedupeTTL    = 168 * time.Hour
	MinDedupeTTL = time.Second
)

// Consumer (COMMAND_*).
const (
	// CommandConcurrency is the default of COMMAND_CONCURRENCY; at least 1.
	CommandConcurrency = 8
	// CommandTimeout is the default of COMMAND_TIMEOUT; more than 0.
	CommandTimeout    = 30 * time.Second
	MinCommandTimeout = time.Millisecond
	// CommandMaxDeliver is the default of COMMAND_MAX_DELIVER; at least 1.
	CommandMaxDeliver = 5
)

// Streams (EVENTS_MAX_AGE, DLQ_MAX_AGE).
const (
	// EventsMaxAge is the default of EVENTS_MAX_AGE, the users stream's
	// retention.
	EventsMaxAge = 720 * time.Hour
	// DLQMaxAge is the default of DLQ_MAX_AGE, the dead-letter stream's
	// retention (it may hold personal data).
	DLQMaxAge = 336 * time.Hour
)

// KeyPrefix is the default of REDIS_KEY_PREFIX.
const KeyPrefix = "auth0w"

// Text writes d as the documentation does: 2m, 168h, 300ms (not 2m0s).
func Text(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Bound is one setting a component checks when it starts, for FirstBroken.
type Bound struct {
	Name   string // as the component's documentation names it: "Options.AckTimeout"
	Value  any    // shown in the message
	Broken bool   // e.g. o.AckTimeout < 0
	Want   string // e.g. "must be >= 0"
}

// Invalid returns err marked as a validation error: it reads as err, and
// errors.Is matches sentinel (a component's ErrInvalidConfig, say) as well
// as whatever err wraps. Nil stays nil.
func Invalid(sentinel, err error) error {
	if err == nil {
		return nil
	}
	return &invalid{sentinel, err}
}

type invalid struct{ sentinel, err error }

func (e *invalid) Error() string   { return e.err.Error() }
func (e *invalid) Unwrap() []error { return []error{e.sentinel, e.err} }

// FirstBroken returns the first broken bound as "<pkg>: <Name> <Value> <Want>",
// nil when none is.
func FirstBroken(pkg string, bounds ...Bound) error {
	for _, b := range bounds {
		if b.Broken {
			return fmt.Errorf("%s: %s %v %s", pkg, b.Name, b.Value, b.Want)
		}
	}
	return nil
}

// Fill sets *p to def when it is zero.
func Fill[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// OrPositive is v, or def when v is zero or negative.
func OrPositive[T int | int64 | time.Duration](v, def T) T {
	FillPositive(&v, def)
	return v
}

// FillPositive sets *p to def when it is zero or negative.
func FillPositive[T int | int64 | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}
