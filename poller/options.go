package poller

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// The built-in source names: the selectable ones are POLL_SOURCE values;
// the names are the metric labels except backfill's (search).
const (
	SourceEvents    = "events"
	SourceSearch    = "search"
	SourceAuto      = "auto"
	SourceReconcile = "reconcile"
	SourceBackfill  = "backfill"
)

// ErrInvalidOptions is wrapped by every validation error of New.
var ErrInvalidOptions = errors.New("poller: invalid options")

// Options configure a Poller. Field comments give the default (README "Configuration").
type Options struct {
	// Searcher reads GET /api/v2/users (search source, reconcile, backfill,
	// auto's fallback). Required unless Source is "events" with
	// ReconcileInterval off and Start "now".
	Searcher UserSearcher
	// Events opens the Events API stream. Required for "events" and "auto"
	// (unless Query makes auto select search).
	Events EventSubscriber
	// Publisher publishes to JetStream (required).
	Publisher Publisher
	// Dedupe is the seen-set (required).
	Dedupe dedupe.Store
	// Redis holds the lease and the cursors (required).
	Redis redis.UniversalClient
	// Keys builds the Redis keys; Keys.Tenant is required, Keys.Prefix
	// defaults to limits.KeyPrefix.
	Keys rediskeys.Keys

	// Source is POLL_SOURCE: "events", "search" or "auto" (default "auto").
	Source string
	// Query is POLL_QUERY, a Lucene filter ANDed to the new-user query.
	// Refused with Source "events"; with "auto" it selects search.
	Query string
	// Limit is POLL_LIMIT, max users published per search cycle (default
	// limits.PollLimit).
	Limit int
	// Interval is POLL_INTERVAL, the search cycle (default
	// limits.PollInterval).
	Interval time.Duration
	// Overlap is POLL_OVERLAP, how far behind the cursor a search re-reads
	// (zero: limits.PollOverlap). Set NoOverlap for none.
	Overlap time.Duration
	// NoOverlap turns the re-read off (POLL_OVERLAP=0); Overlap is ignored.
	NoOverlap bool
	// Start is POLL_START for the first start (no cursor yet); the zero
	// value is pollstart.Now.
	Start pollstart.Start
	// ReconcileInterval is RECONCILE_INTERVAL (zero:
	// limits.ReconcileInterval). Set ReconcileOff to turn reconcile off.
	ReconcileInterval time.Duration
	// ReconcileOff turns reconcile off (RECONCILE_INTERVAL=0);
	// ReconcileInterval is ignored.
	ReconcileOff bool
	// LeaseTTL is LEASE_TTL (default limits.LeaseTTL; at least
	// limits.MinLeaseTTL).
	LeaseTTL time.Duration
	// EventsRetry is how often auto tries the Events API again after falling
	// back to search (default DefaultEventsRetry).
	EventsRetry time.Duration
	// Types is EVENT_TYPES: the user event types published (publisher.Types
	// values). The events source subscribes to each; search carries
	// user.created only. Default {"user.created"}.
	Types []string

	// Webhook is the Auth0 Event Streams receiver (WEBHOOK_*); off unless
	// Webhook.Addr or Webhook.Listener is set. It runs on every replica.
	Webhook WebhookOptions

	// Metrics, if set, records the poller metrics (README "Operations").
	Metrics *metrics.Metrics
	// Logger; default slog.Default().
	Logger *slog.Logger
	// TracerProvider, if set, gets a span per poll cycle (trace.go); nil =
	// no tracing.
	TracerProvider trace.TracerProvider
}

// DefaultEventsRetry is the default of Options.EventsRetry.
const DefaultEventsRetry = 10 * time.Minute

// invalid wraps ErrInvalidOptions around one validation message.
func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, a...)...)
}

// validate fills the defaults stated on Options and refuses what the poller
// cannot run with. The bounds are those of internal/limits, which config
// applies at start too, so a value config accepts is never refused here.
func (o *Options) validate() error {
	for _, step := range []func() error{o.checkRequired, o.checkSource, o.checkCycle, o.checkStart, o.checkTypes, o.checkWebhook, o.checkReaders} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// checkRequired: the connections every source needs.
func (o *Options) checkRequired() error {
	switch {
	case o.Publisher == nil:
		return invalid("Publisher is required")
	case o.Dedupe == nil:
		return invalid("Dedupe is required")
	case o.Redis == nil:
		return invalid("Redis is required")
	case o.Keys.Tenant == "":
		return invalid("Keys.Tenant is required (host[:port] of the Auth0 base URL, e.g. tenant.eu.auth0.com)")
	}
	limits.Fill(&o.Keys.Prefix, limits.KeyPrefix)
	limits.Fill(&o.Logger, slog.Default())
	return nil
}

// checkSource: Source and Query (POLL_SOURCE, POLL_QUERY).
func (o *Options) checkSource() error {
	if o.Source == "" {
		o.Source = SourceAuto
	}
	if r, ok := lookup(o.Source); !ok || r.Mode != Pull || !r.Selectable {
		return invalid("Source %q: want events, search or auto", o.Source)
	}
	o.Query = strings.TrimSpace(o.Query)
	if o.Query != "" && o.Source == SourceEvents {
		return invalid("Query (POLL_QUERY) works only with the search source; it is refused with Source events (use search or auto)")
	}
	return nil
}

// checkCycle: the numbers and durations, defaults and bounds from
// internal/limits.
func (o *Options) checkCycle() error {
	// Zero is the default; a negative value is left for the bounds checks.
	limits.Fill(&o.Limit, limits.PollLimit)
	limits.Fill(&o.Interval, limits.PollInterval)
	limits.Fill(&o.Overlap, limits.PollOverlap)
	limits.Fill(&o.ReconcileInterval, limits.ReconcileInterval)
	limits.Fill(&o.LeaseTTL, limits.LeaseTTL)
	limits.FillPositive(&o.EventsRetry, DefaultEventsRetry)
	switch {
	case o.Limit < limits.MinPollLimit:
		return invalid("Limit %d: must be positive, e.g. %d", o.Limit, limits.PollLimit)
	case o.Interval < limits.MinPollInterval:
		return invalid("Interval %v: must be positive, e.g. %s", o.Interval, limits.Text(limits.PollInterval))
	case o.LeaseTTL < limits.MinLeaseTTL:
		return invalid("LeaseTTL %v: must be at least %s, e.g. %s", o.LeaseTTL, limits.Text(limits.MinLeaseTTL), limits.Text(limits.LeaseTTL))
	case !o.NoOverlap && o.Overlap < 0:
		return invalid("Overlap %v: must not be negative (set NoOverlap for none)", o.Overlap)
	case !o.ReconcileOff && o.ReconcileInterval < 0:
		return invalid("ReconcileInterval %v: must not be negative (set ReconcileOff to turn reconcile off)", o.ReconcileInterval)
	}
	if o.NoOverlap {
		o.Overlap = 0
	}
	if o.ReconcileOff {
		o.ReconcileInterval = 0 // the poller's "off"
	}
	return nil
}

// checkTypes: EVENT_TYPES.
func (o *Options) checkTypes() error {
	if len(o.Types) == 0 {
		o.Types = []string{publisher.TypeCreated}
	}
	for _, t := range o.Types {
		if !slices.Contains(publisher.Types, t) {
			return invalid("Types: unknown event type %q (want user.created, user.updated or user.deleted)", t)
		}
	}
	return nil
}

// checkWebhook: the receiver's options.
func (o *Options) checkWebhook() error {
	if err := o.Webhook.validate(); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// checkStart: Start (POLL_START), parsed by config or built with pollstart.
func (o *Options) checkStart() error {
	switch o.Start.Kind() {
	case pollstart.Now, pollstart.All:
	case pollstart.Time:
		o.Start.Time = o.Start.Time.UTC() // any time config accepts, even year 1
	default:
		return invalid("Start: unknown mode %q (want now, all or time)", o.Start.Mode)
	}
	o.Start.Mode = o.Start.Kind()
	return nil
}

// checkReaders: the Auth0 readers the effective source, reconcile and
// backfill need.
func (o *Options) checkReaders() error {
	effective := o.effectiveSource()
	if r, _ := lookup(effective); r.EventsAPI && o.Events == nil {
		return invalid("Events is required for Source %s", o.Source)
	}
	needSearch := effective == SourceSearch || effective == SourceAuto || (effective == SourceEvents && (o.ReconcileInterval > 0 || o.Start.Mode != pollstart.Now))
	if needSearch && o.Searcher == nil {
		return invalid("Searcher is required (search source, auto fallback, reconcile or backfill)")
	}
	return nil
}

// wantsLifeCycle reports whether updated or deleted events are wanted: types
// that the search source cannot carry.
func (o *Options) wantsLifeCycle() bool {
	return slices.Contains(o.Types, publisher.TypeUpdated) || slices.Contains(o.Types, publisher.TypeDeleted)
}

// effectiveSource is Source with auto+Query resolved to search.
func (o *Options) effectiveSource() string {
	if o.Source == SourceAuto && o.Query != "" {
		return SourceSearch
	}
	return o.Source
}
