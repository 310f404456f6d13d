// Package emulator is a local emulator of an Auth0 tenant's Management API
// (a tenant in a box): /oauth/token, users CRUD and search with Auth0's
// Lucene subset, the 1000-result cap and index lag, the Events API (SSE),
// rate limits and fault injection, plus an admin surface under /emulator/
// for tests and demos. It is an http.Handler; emulatortest.NewServer starts
// it on a random port for tests.
//
// This file holds the types other packages use (tests, cmd/auth0-emulator,
// cmd/auth0-dev) and an overview of the methods.
package emulator

import "time"

// Default credentials of the client that exists when Config.Clients is empty.
const (
	DefaultClientID     = "emulator-client"
	DefaultClientSecret = "emulator-secret"
)

// AllScopes are every scope the emulator knows.
var AllScopes = []string{"read:users", "create:users", "update:users", "delete:users", "read:events"}

// ClientCredentials is one Machine-to-Machine application of the tenant.
type ClientCredentials struct {
	ID     string
	Secret string
	Scopes []string // nil = AllScopes
}

// Config configures an Emulator. The zero value is a useful tenant: one
// default client with every scope, 24h tokens, no lag, no limits, no faults.
type Config struct {
	// Clients that may obtain tokens; default one DefaultClientID client.
	Clients []ClientCredentials
	// TokenLifetime of issued tokens (expires_in); default 24h.
	TokenLifetime time.Duration
	// Knobs are the initial run-time behaviour knobs (see SetKnobs).
	Knobs Knobs
	// Now is the clock; default time.Now. Tests may use a controllable clock.
	Now func() time.Time
	// Seed for the emulator's randomness (lag, faults, ids); 0 = random.
	Seed int64
	// RequestLogMax bounds the request log (the oldest entries are dropped
	// first); default 100,000 entries.
	RequestLogMax int
	// Connections of the tenant besides DefaultConnection (a database
	// connection that always exists); POST /users with any other name
	// answers 400 inexistent_connection. More can be added at run time
	// (AddConnections, POST /emulator/connections); seeding through
	// CreateUsers adds the connections it names. New panics on an entry
	// without a name.
	Connections []Connection
	// EventStreamDefaults are the delivery knobs of event streams whose
	// EventStreamConfig.Delivery leaves a field zero (DefaultDelivery where
	// this leaves one zero too).
	EventStreamDefaults DeliveryKnobs
}

// Knobs change behaviour at run time (SetKnobs, or PATCH /emulator/knobs
// with the same JSON names). The zero value means "behave like an idle,
// unlimited tenant".
type Knobs struct {
	// IndexLag is how long a new or changed user stays invisible to search
	// (GET /users with q); get-by-id and users-by-email see it at once.
	IndexLag time.Duration `json:"index_lag"`
	// IndexLagMax, when > IndexLag, draws each user's lag uniformly from
	// [IndexLag, IndexLagMax].
	IndexLagMax time.Duration `json:"index_lag_max"`

	// RateLimit is the token bucket refill in requests per second for
	// /api/v2 (0 = unlimited); RateBurst its size (default ceil(RateLimit)).
	RateLimit float64 `json:"rate_limit"`
	RateBurst int     `json:"rate_burst"`
	// RetryAfterProbability is the chance a 429 also carries Retry-After.
	RetryAfterProbability float64 `json:"retry_after_probability"`

	// FaultRate is the probability that an /api/v2 request answers 503
	// without touching state.
	FaultRate float64 `json:"fault_rate"`
	// Latency is added before every /api/v2 and /oauth/token answer.
	Latency time.Duration `json:"latency"`
	// LatencyAfter delays the answer of an /api/v2 request (Events stream
	// excepted) after its change was applied: a client that times out
	// meanwhile loses the reply of a request that took effect.
	LatencyAfter time.Duration `json:"latency_after"`
	// FaultAfterRate is the probability that an /api/v2 request (Events
	// stream excepted) is applied and then answered 503 anyway (the
	// ambiguous failure a client must not blindly retry).
	FaultAfterRate float64 `json:"fault_after_rate"`

	// EventsCycle closes every SSE connection after this long (Auth0 does so
	// every few minutes); 0 = never.
	EventsCycle time.Duration `json:"events_cycle"`
	// EventsRedeliver is the probability that, on a resumed connection, an
	// event just before the resume point is sent again (at-least-once).
	EventsRedeliver float64 `json:"events_redeliver"`
	// EventsRetention: offsets older than this answer 410 / cursor_expired;
	// 0 = keep forever.
	EventsRetention time.Duration `json:"events_retention"`
	// EventsMaxConnections is the concurrent SSE connection limit (403 over
	// it); 0 = unlimited.
	EventsMaxConnections int `json:"events_max_connections"`
	// EventsHeartbeat is the interval of offset-only messages and
	// `: heartbeat` comments; default 1s.
	EventsHeartbeat time.Duration `json:"events_heartbeat"`
	// EventsRetry is the `retry:` value sent on connect; default 1s.
	EventsRetry time.Duration `json:"events_retry"`
	// EventsDisabled answers 404 on /api/v2/events (a plan without it).
	EventsDisabled bool `json:"events_disabled"`

	// EventsErrorAfter ends every SSE connection after this long with a
	// terminal `event: error` of code EventsErrorCode and the connection's
	// offset (clients reconnect from it); 0 = never.
	EventsErrorAfter time.Duration `json:"events_error_after"`
	// EventsErrorCode is "timeout" (the default) or "connection_timeout".
	EventsErrorCode string `json:"events_error_code"`

	// PasswordPolicy of the database connections: none (also ""), low,
	// fair, good or excellent (PasswordPolicies). A password it refuses on
	// POST /users or PATCH /users/{id} answers 400 "PasswordStrengthError:
	// Password is too weak".
	PasswordPolicy string `json:"password_policy"`

	// TokenRateLimit is the token bucket refill in requests per second for
	// /oauth/token (0 = unlimited), TokenRateBurst its size (default
	// ceil(TokenRateLimit)). Token answers carry X-RateLimit-* headers
	// either way; over the limit: 429 too_many_requests (OAuth shape).
	TokenRateLimit float64 `json:"token_rate_limit"`
	TokenRateBurst int     `json:"token_rate_burst"`

	// SearchDuration is how long every GET /users takes to run. One that
	// would run longer than SearchTimeout (default 2s, Auth0's limit)
	// answers 503 once SearchTimeout has passed, as Auth0 does.
	SearchDuration time.Duration `json:"search_duration"`
	SearchTimeout  time.Duration `json:"search_timeout"`
}

// SeedUser is a user created through the admin surface, with a chosen
// created_at (many may share one millisecond).
type SeedUser struct {
	UserID     string    `json:"user_id,omitempty"`    // full id; default auth0|<24 hex>
	Connection string    `json:"connection,omitempty"` // default Username-Password-Authentication
	Email      string    `json:"email,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitempty"` // default now
	// Fields are extra top-level profile fields (name, user_metadata, ...).
	Fields map[string]any `json:"fields,omitempty"`
	// NoEvent suppresses the user.created event (for pre-existing users).
	NoEvent bool `json:"no_event,omitempty"`
	// Indexed makes the user searchable at once, ignoring IndexLag.
	Indexed bool `json:"indexed,omitempty"`
}

// LoggedRequest is one entry of the request log.
type LoggedRequest struct {
	Method      string    `json:"method"`
	Path        string    `json:"path"` // escaped path as received
	Query       string    `json:"query"`
	Time        time.Time `json:"time"` // arrival
	Status      int       `json:"status"`
	ClientID    string    `json:"client_id,omitempty"` // from the token, when valid
	UserAgent   string    `json:"user_agent,omitempty"`
	LastEventID string    `json:"last_event_id,omitempty"`
}

// The Emulator's methods (implemented in the other files):
//
//	func New(cfg Config) *Emulator                     // http.Handler
//	func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request)
//	func (e *Emulator) Knobs() Knobs
//	func (e *Emulator) SetKnobs(f func(*Knobs))
//	func (e *Emulator) CreateUsers(users []SeedUser) ([]string, error)   // returns user ids
//	func (e *Emulator) DeleteUser(id string) bool
//	func (e *Emulator) UserJSON(id string) ([]byte, bool)                // as GET /users/{id} would answer
//	func (e *Emulator) UserCount() int
//	func (e *Emulator) Requests() []LoggedRequest
//	func (e *Emulator) ResetRequests()
//	func (e *Emulator) CloseEventStreams()                               // drop every SSE connection now
//	func (e *Emulator) IssueToken(clientID string) string                // a valid token without HTTP
//	func (e *Emulator) Clients() []ClientCredentials
//	func (e *Emulator) AddConnections(list ...Connection) error
//	func (e *Emulator) Connections() []Connection
//	func (e *Emulator) UpdateUser(id string, fields map[string]any) ([]byte, error) // ErrUserNotFound
//
// Event streams with webhook destinations (eventstreams.go, webhook_delivery.go):
//
//	func (e *Emulator) CreateEventStream(cfg EventStreamConfig) (string, error) // est_...
//	func (e *Emulator) EventStreams() []EventStream
//	func (e *Emulator) EventStream(id string) (EventStream, error)
//	func (e *Emulator) DeleteEventStream(id string) error
//	func (e *Emulator) UpdateEventStream(id string, f func(*EventStreamConfig)) error
//	func (e *Emulator) SetEventStreamEnabled(id string, enabled bool) error
//	func (e *Emulator) Deliveries(id string) ([]Delivery, error)
//	func (e *Emulator) DeliveriesPending(id string) int
//	func (e *Emulator) WaitDeliveries(ctx context.Context, id string) (failed int, err error)
//	func (e *Emulator) RedeliverEvents(id string, deliveryIDs ...string) (int, error)
//	func (e *Emulator) Close()                                           // stops every stream's deliveries
//
// Test helper (package emulatortest, apart so that this package links no
// testing code):
//
//	type Server struct { URL string; Emulator *emulator.Emulator; ClientID, ClientSecret string; ... }
//	func NewServer(t testing.TB, cfg emulator.Config, opts ...ServerOption) *Server // random port, t.Cleanup
//	func WithMiddleware(func(http.Handler) http.Handler) ServerOption   // e.g. contract.Middleware(t)
//	func (s *Server) Close(); func (s *Server) Restart()   // stop/start listening on the same port (state kept)
//	func (s *Server) Stop(); func (s *Server) Start() error // "Auth0 down" for as long as a test wants
//
// Behaviour worth knowing: POST /users needs a connection the tenant has
// (Config.Connections; a database connection needs email and password, a
// passwordless one email or phone_number and no password); juxtaposed query
// terms are ORed (Lucene's default) unless the second starts with NOT or -;
// search ties on created_at come back in user_id order; GET /users (with or
// without q) sees the index, so IndexLag applies to plain listings too.
//
// Admin HTTP surface: POST /emulator/users (JSON array of SeedUser) →
// {"user_ids": [...]}; GET /emulator/requests; DELETE /emulator/requests;
// GET/PATCH /emulator/knobs (durations as Go strings "2s" or nanoseconds);
// GET /emulator/connections; POST /emulator/connections (a Connection or a
// JSON array of them); PATCH /emulator/users/{id} (UpdateUser);
// /emulator/event-streams (eventstreams_admin.go).
