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
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Source names (POLL_SOURCE) and metric labels.
const (
	SourceEvents    = "events"
	SourceSearch    = "search"
	SourceAuto      = "auto"
	SourceReconcile = "reconcile"
)

// ErrInvalidOptions is wrapped by every validation error of New.
var ErrInvalidOptions = errors.New("poller: invalid options")

// Options configure a Poller. Field comments give the default (DESIGN.md §3).
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
	// defaults to "auth0w".
	Keys rediskeys.Keys

	// Source is POLL_SOURCE: "events", "search" or "auto" (default "auto").
	Source string
	// Query is POLL_QUERY, a Lucene filter ANDed to the new-user query.
	// Refused with Source "events"; with "auto" it selects search.
	Query string
	// Limit is POLL_LIMIT, max users published per search cycle (default 1000).
	Limit int
	// Interval is POLL_INTERVAL, the search cycle (default 10s).
	Interval time.Duration
	// Overlap is POLL_OVERLAP, how far behind the cursor a search re-reads
	// (default 2m).
	Overlap time.Duration
	// Start is POLL_START for the first start (no cursor yet): "now", "all"
	// or an RFC 3339 time (default "now").
	Start string
	// ReconcileInterval is RECONCILE_INTERVAL (default 10m). Because the zero
	// value means the default here, a negative value turns reconcile off
	// (RECONCILE_INTERVAL=0 maps to -1).
	ReconcileInterval time.Duration
	// LeaseTTL is LEASE_TTL (default 15s; at least 300ms).
	LeaseTTL time.Duration
	// EventsRetry is how often auto tries the Events API again after falling
	// back to search (default 10m).
	EventsRetry time.Duration
	// Types is EVENT_TYPES: the user event types published (publisher.Types
	// values). The events source subscribes to each; search carries
	// user.created only. Default {"user.created"}.
	Types []string

	// Webhook is the Auth0 Event Streams receiver (WEBHOOK_*); off unless
	// Webhook.Addr or Webhook.Listener is set. It runs on every replica.
	Webhook WebhookOptions

	// Metrics, if set, records the §7 poller metrics.
	Metrics *metrics.Metrics
	// Logger; default slog.Default().
	Logger *slog.Logger
	// TracerProvider, if set, gets a span per poll cycle (trace.go); nil =
	// no tracing.
	TracerProvider trace.TracerProvider
}

// startPoint is the parsed Start.
type startPoint struct {
	kind string    // "now", "all", "time"
	at   time.Time // for "time"
}

func (o *Options) validate() (startPoint, error) {
	var sp startPoint
	bad := func(format string, a ...any) (startPoint, error) {
		return sp, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, a...)...)
	}
	if o.Publisher == nil {
		return bad("Publisher is required")
	}
	if o.Dedupe == nil {
		return bad("Dedupe is required")
	}
	if o.Redis == nil {
		return bad("Redis is required")
	}
	if o.Keys.Tenant == "" {
		return bad("Keys.Tenant is required (host[:port] of the Auth0 base URL, e.g. tenant.eu.auth0.com)")
	}
	if o.Keys.Prefix == "" {
		o.Keys.Prefix = "auth0w"
	}
	if o.Source == "" {
		o.Source = SourceAuto
	}
	if r, ok := lookup(o.Source); !ok || r.Mode != Pull || !r.Selectable {
		return bad("Source %q: want events, search or auto", o.Source)
	}
	o.Query = strings.TrimSpace(o.Query)
	if o.Query != "" && o.Source == SourceEvents {
		return bad("Query (POLL_QUERY) works only with the search source; it is refused with Source events (use search or auto)")
	}
	if o.Limit == 0 {
		o.Limit = 1000
	}
	if o.Limit < 0 {
		return bad("Limit %d: must be positive, e.g. 1000", o.Limit)
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Second
	}
	if o.Interval < 0 {
		return bad("Interval %v: must be positive, e.g. 10s", o.Interval)
	}
	if o.Overlap == 0 {
		o.Overlap = 2 * time.Minute
	}
	if o.Overlap < 0 {
		return bad("Overlap %v: must not be negative, e.g. 2m", o.Overlap)
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = 10 * time.Minute
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.LeaseTTL < 300*time.Millisecond {
		return bad("LeaseTTL %v: must be at least 300ms, e.g. 15s", o.LeaseTTL)
	}
	if o.EventsRetry <= 0 {
		o.EventsRetry = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.Types) == 0 {
		o.Types = []string{publisher.TypeCreated}
	}
	for _, t := range o.Types {
		if !slices.Contains(publisher.Types, t) {
			return bad("Types: unknown event type %q (want user.created, user.updated or user.deleted)", t)
		}
	}
	if err := o.Webhook.validate(); err != nil {
		return bad("%v", err)
	}
	switch s := strings.TrimSpace(o.Start); s {
	case "", "now":
		sp.kind, o.Start = "now", "now"
	case "all":
		sp.kind = "all"
	default:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad("Start %q: want now, all or an RFC 3339 time such as 2024-01-02T03:04:05Z", o.Start)
		}
		sp.kind, sp.at = "time", t.UTC()
	}
	effective := o.effectiveSource()
	if (effective == SourceEvents || effective == SourceAuto) && o.Events == nil {
		return bad("Events is required for Source %s", o.Source)
	}
	needSearch := effective == SourceSearch || effective == SourceAuto || (effective == SourceEvents && (o.ReconcileInterval > 0 || sp.kind != "now"))
	if needSearch && o.Searcher == nil {
		return bad("Searcher is required (search source, auto fallback, reconcile or backfill)")
	}
	return sp, nil
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
