// Package limits states, once, the defaults and the bounds of the settings
// that both config (which refuses bad values at start) and the components
// (poller, consumer: which fill zero values and refuse bad Options) know
// about. It imports nothing of the worker, so config, poller and consumer can
// all refer to it without importing each other.
package limits

import (
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
