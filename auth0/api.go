// Package auth0 is the project's own Auth0 Management API client: client
// credentials token, rate limits read from Auth0's headers, retries, users,
// the Events API (SSE) and a guarded raw call. It imports neither NATS nor
// Redis. A *Client is safe for concurrent use: all goroutines share one token
// and one rate budget.
//
// This file holds the types and interfaces other packages (poller, consumer,
// cmd) use; the implementations live in the other files of the package.
package auth0

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/sse"
)

// Config configures a Client. Zero values are useful defaults where stated.
type Config struct {
	// BaseURL is <scheme>://<host[:port]> of the tenant, no path (required).
	BaseURL string
	// ClientID and ClientSecret of the Machine-to-Machine application (required).
	// The secret never appears in an error, a log line or a metric.
	ClientID, ClientSecret string
	// Audience of the token; default BaseURL + "/api/v2/".
	Audience string
	// HTTPClient to use; default a client with dial/TLS timeouts and no
	// overall Timeout. A given client must have Timeout 0 (it would cut the
	// SSE stream); each API attempt is bounded by AttemptTimeout instead.
	// Its CheckRedirect is replaced: redirects are never followed, so the
	// bearer token cannot leave the base URL.
	HTTPClient *http.Client
	// MaxRPS is a client-side ceiling on requests per second; 0 = follow
	// Auth0's rate-limit headers only.
	MaxRPS float64
	// MaxRetries bounds retries of one call (429, 5xx, network); default
	// DefaultMaxRetries. Retries also stop when the call's context ends.
	MaxRetries int
	// AttemptTimeout bounds one HTTP attempt of an API call (not the SSE
	// stream); default DefaultAttemptTimeout. A create whose attempt times
	// out is not retried (ErrAmbiguous).
	AttemptTimeout time.Duration
	// UserAgent sent on every request; default DefaultUserAgent.
	UserAgent string
	// Observer, if set, is told about every HTTP response (for metrics).
	Observer Observer
	// Logger for debug/warn lines about retries and rate limits; default slog.Default().
	Logger *slog.Logger
	// APICallAllow is the api.call allowlist: rules "METHOD /path-glob"
	// (README "Commands"). Empty = Raw refuses every call with ErrNotAllowed.
	APICallAllow []string
	// MaxResponseBytes bounds one response body and one SSE message;
	// default DefaultMaxResponseBytes (40 MiB: a user may hold 2 × 16 MB of
	// metadata). A larger response is ErrResponseTooLarge (never cut); a
	// search page over it is requested again with a smaller per_page.
	MaxResponseBytes int
	// TracerProvider, if set, gets a client span per HTTP attempt, a child
	// of the span in the call's context; nil = no tracing (no cost).
	TracerProvider trace.TracerProvider
}

// Observer receives one call per HTTP response or transport failure. It must
// be safe for concurrent use and fast (it runs on the request path).
type Observer interface {
	// Request reports one attempt: op is a short operation name
	// ("token","users.search","users.get","users.create","users.update",
	// "users.delete","users.by_email","events","api.call"); status is the HTTP
	// status, or 0 on a network error.
	Request(op string, status int)
	// RateLimit reports X-RateLimit-Remaining after a response that carried it.
	RateLimit(remaining int)
}

// New validates cfg and returns a client. It does no I/O.
func New(cfg Config) (*Client, error) { return newClient(cfg) }

// User is an Auth0 user. The typed fields are the ones the worker reads; Raw
// is the whole object exactly as Auth0 returned it (what events carry and
// replies return). MarshalJSON writes Raw.
type User struct {
	UserID     string          `json:"user_id"`
	Email      string          `json:"email,omitempty"`
	CreatedAt  string          `json:"created_at,omitempty"` // verbatim, RFC 3339 with ms
	Identities []Identity      `json:"identities,omitempty"`
	Raw        json.RawMessage `json:"-"`
	// Problem, when not nil, says why the worker cannot use this user
	// (README "Bad data"): no user_id, a user_id with control characters, a
	// created_at that is not an RFC 3339 time, or one of those fields or
	// email of the wrong JSON type. Decoding is per user: a bad user never
	// fails the page or stream around it. Other fields pass through.
	Problem *UserProblem `json:"-"`
	// Kind is the life-cycle event that carried this object: "user.updated"
	// or "user.deleted"; "" (the zero value) means user.created. Set by the
	// caller (the events source, the receiver), never by decoding a user.
	Kind string `json:"-"`
	// EventTime is the `time` of the Auth0 event that carried the object:
	// the fallback for an updated object without updated_at or a deleted
	// one without deleted_at (README "User life cycle").
	EventTime string `json:"-"`
}

// Identity is one entry of a user's identities. UserID decodes from a JSON
// string or number (some social providers send numbers).
type Identity struct {
	Connection string     `json:"connection"`
	Provider   string     `json:"provider"`
	UserID     FlexString `json:"user_id"`
	IsSocial   bool       `json:"isSocial"`
}

// FlexString is a string that also decodes from a JSON number.
type FlexString string

// SearchParams are the query parameters of GET /api/v2/users.
type SearchParams struct {
	Query         string // q (Lucene); empty lists all users
	Sort          string // e.g. "created_at:1"
	Fields        string // comma-separated
	IncludeFields *bool  // nil = Auth0's default (true)
	Page          int    // 0-based
	PerPage       int    // ≤ 100; 0 = 50 for one page, 100 for iterators
	Connection    string // optional connection filter
}

// UsersPage is one page of a search (include_totals=true).
type UsersPage struct {
	Users []User
	Start int
	Limit int
	Total int // matches Auth0 reported
}

// SearchCap is Auth0's hard limit on how far a query can be paged.
const SearchCap = 1000

// EventParams open an Events API stream.
type EventParams struct {
	// Types are the event_type filters, e.g. {"user.created"}; empty = all.
	Types []string
	// LastEventID resumes after this offset (sent as Last-Event-ID). Takes
	// precedence over FromTimestamp.
	LastEventID string
	// FromTimestamp is used when there is no valid offset; sent in whole
	// seconds UTC (rounded down).
	FromTimestamp time.Time
	// Reconnect, when true, makes the stream reconnect by itself (with backoff,
	// from the last offset it received) after server cycling, network errors,
	// transient `event: error` codes and 403 connection-limit refusals; only
	// terminal conditions (ErrCursorExpired, ErrInvalidCursor,
	// ErrInsufficientScope, 404 and other 4xx, ctx done) are returned by Next.
	Reconnect bool
}

// Event is one message of the stream. Offset-only messages (Type
// "offset-only") carry an Offset and no User; callers persist every Offset.
type Event struct {
	Type   string          // SSE event name: "user.created", "offset-only", ...
	Offset string          // SSE id (opaque)
	Data   json.RawMessage // the SSE data payload
	// User is the user object (data.event.data.object) for user.* events.
	User *User
	// EventID is the CloudEvent id ("evt_...") for user.* events.
	EventID string
	// TooLarge is set for a message over Config.MaxResponseBytes: it was
	// skipped to its end; only Type and Offset are known (README "Bad data").
	TooLarge bool
}

// RawRequest is an api.call (README "Commands").
type RawRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"` // relative to /api/v2
	Query   url.Values        `json:"-"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// RawResponse is Auth0's answer to an api.call, whatever its status.
// Body is JSON when Auth0 answered JSON (with any "client_secret" field
// replaced by "[redacted]"), otherwise a JSON string.
type RawResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// SSEMessage is one Server-Sent Events message as framed on the wire
// (internal/sse, shared with the emulator).
type SSEMessage = sse.Message
