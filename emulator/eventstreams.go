package emulator

// Event streams with webhook destinations (Auth0's push side): the types,
// the registry and the Go API. Delivery itself is in webhook_delivery.go,
// the admin HTTP surface in eventstreams_admin.go. The OpenAPI subset has no
// /event-streams path, so streams are created through the Go API or the
// admin surface only, never through /api/v2.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of the event-stream API, usable with errors.Is.
var (
	// ErrEventStreamNotFound: no stream with that id.
	ErrEventStreamNotFound = errors.New("event stream not found")
	// ErrEventStreamDisabled: the stream is disabled (re-enable it first).
	ErrEventStreamDisabled = errors.New("event stream is disabled")
	// ErrInvalidEventStream: a bad EventStreamConfig; the message names the field.
	ErrInvalidEventStream = errors.New("invalid event stream")
)

// Authorization methods of a webhook destination.
const (
	WebhookAuthBearer = "bearer"
	WebhookAuthBasic  = "basic"
)

// WebhookAuthorization is the destination's webhook_authorization: bearer
// with Token, or basic with Username and Password. It is sent on every
// delivery and never shown by a view or an error.
type WebhookAuthorization struct {
	Method   string `json:"method"`
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// EventStreamConfig creates an event stream with a webhook destination.
type EventStreamConfig struct {
	// Name of the stream; default "stream-<n>".
	Name string
	// Subscriptions are the event types delivered (user.created,
	// user.updated, user.deleted, ...); at least one.
	Subscriptions []string
	// WebhookEndpoint is where events are POSTed: https, or http to a
	// loopback host (emulator only: Auth0 wants https).
	WebhookEndpoint string
	// WebhookEndpoints (emulator extension) are more endpoints; each attempt
	// goes to the next of WebhookEndpoint + WebhookEndpoints in turn
	// (round-robin), like a load balancer in front of several receivers.
	WebhookEndpoints []string
	// WebhookAuthorization is required (bearer or basic).
	WebhookAuthorization WebhookAuthorization
	// Delivery knobs; zero fields take Config.EventStreamDefaults, then the
	// documented defaults.
	Delivery DeliveryKnobs
}

// DeliveryKnobs steer how a stream delivers. Zero means "the default"
// (Config.EventStreamDefaults, then DefaultDelivery).
type DeliveryKnobs struct {
	// MaxAttempts per delivery before it is failed.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// RetryBase is the wait after the first failed attempt, doubled after
	// each further one up to RetryMax.
	RetryBase time.Duration `json:"retry_base,omitempty"`
	RetryMax  time.Duration `json:"retry_max,omitempty"`
	// Timeout of one POST.
	Timeout time.Duration `json:"timeout,omitempty"`
	// DisableAfter consecutive failed attempts disable the stream;
	// DisableAfterTotal failed attempts in all do too. Re-enabling resets
	// both counts.
	DisableAfter      int `json:"disable_after,omitempty"`
	DisableAfterTotal int `json:"disable_after_total,omitempty"`
	// Concurrency is how many POSTs the stream has in flight.
	Concurrency int `json:"concurrency,omitempty"`
	// Delay is waited before every POST (a slow pipeline); default none.
	Delay time.Duration `json:"delay,omitempty"`
	// DuplicateEvery: every Nth event is delivered twice (two deliveries,
	// the second marked duplicate); 0 = never.
	DuplicateEvery int `json:"duplicate_every,omitempty"`
	// DuplicateProbability: the chance an event is delivered twice.
	DuplicateProbability float64 `json:"duplicate_probability,omitempty"`
	// ReorderWindow > 1 holds events back until that many are waiting (or
	// ReorderHold passed) and sends the batch shuffled, never in its
	// original order.
	ReorderWindow int           `json:"reorder_window,omitempty"`
	ReorderHold   time.Duration `json:"reorder_hold,omitempty"`
}

// DefaultDelivery returns the knobs a stream delivers with where neither
// its EventStreamConfig.Delivery nor Config.EventStreamDefaults set one:
// Auth0's attempts and disabling thresholds, no faults.
func DefaultDelivery() DeliveryKnobs {
	return DeliveryKnobs{
		MaxAttempts: 12, RetryBase: time.Second, RetryMax: 5 * time.Minute, Timeout: 10 * time.Second,
		DisableAfter: 500, DisableAfterTotal: 5000, Concurrency: 4, ReorderHold: 50 * time.Millisecond,
	}
}

// withDefaults fills zero fields from d, then from DefaultDelivery.
func (k DeliveryKnobs) withDefaults(d DeliveryKnobs) DeliveryKnobs {
	fillZeroKnobs(&k, d)
	fillZeroKnobs(&k, DefaultDelivery())
	return k
}

// Check reports the first bad knob (negative counts or durations,
// a probability outside [0,1]).
func (k DeliveryKnobs) Check() error {
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"max_attempts", k.MaxAttempts < 0}, {"disable_after", k.DisableAfter < 0}, {"disable_after_total", k.DisableAfterTotal < 0},
		{"concurrency", k.Concurrency < 0}, {"duplicate_every", k.DuplicateEvery < 0},
		{"reorder_window", k.ReorderWindow < 0}, {"retry_base", k.RetryBase < 0},
		{"retry_max", k.RetryMax < 0}, {"timeout", k.Timeout < 0}, {"delay", k.Delay < 0},
		{"reorder_hold", k.ReorderHold < 0},
		{"duplicate_probability", k.DuplicateProbability < 0 || k.DuplicateProbability > 1},
	} {
		if f.bad {
			return fmt.Errorf("%w: delivery.%s must not be negative (probabilities within 0..1)", ErrInvalidEventStream, f.name)
		}
	}
	return nil
}

// Check validates a config (CreateEventStream calls it); the error wraps
// ErrInvalidEventStream, names the field and never holds a credential.
func (c EventStreamConfig) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidEventStream}, a...)...)
	}
	if len(c.Subscriptions) == 0 {
		return bad("subscriptions: at least one event type is required (e.g. user.created)")
	}
	for _, t := range c.Subscriptions {
		if !slices.Contains(evEventTypes, t) {
			return bad("subscriptions: unknown event type %q; expected one of: %s", t, strings.Join(evEventTypes, ", "))
		}
	}
	if c.WebhookEndpoint == "" {
		return bad("webhook_endpoint is required (e.g. https://hooks.example.com/auth0/events)")
	}
	for _, ep := range c.endpoints() {
		if err := checkEndpoint(ep); err != nil {
			return bad("%v", err)
		}
	}
	a := c.WebhookAuthorization
	switch a.Method {
	case WebhookAuthBearer:
		if a.Token == "" {
			return bad("webhook_authorization.token is required with method bearer")
		}
	case WebhookAuthBasic:
		if a.Username == "" || a.Password == "" {
			return bad("webhook_authorization.username and .password are required with method basic")
		}
	default:
		return bad("webhook_authorization.method must be bearer or basic; got %q", a.Method)
	}
	return c.Delivery.Check()
}

func (c EventStreamConfig) endpoints() []string {
	return append([]string{c.WebhookEndpoint}, c.WebhookEndpoints...)
}

// checkEndpoint wants an absolute https URL, or http to a loopback host.
func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return fmt.Errorf("webhook endpoint %q is not an absolute URL", ep)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("webhook endpoint %q: http is allowed for loopback hosts only; use https", ep)
	}
	return fmt.Errorf("webhook endpoint %q: scheme must be https (or http to a loopback host)", ep)
}

// EventStream is the view of a stream (no credentials).
type EventStream struct {
	ID                  string        `json:"id"`
	Name                string        `json:"name"`
	Status              string        `json:"status"` // enabled or disabled
	Subscriptions       []string      `json:"subscriptions"`
	WebhookEndpoints    []string      `json:"webhook_endpoints"` // WebhookEndpoint first
	AuthMethod          string        `json:"auth_method"`
	Delivery            DeliveryKnobs `json:"delivery"` // with defaults applied
	CreatedAt           time.Time     `json:"created_at"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	TotalFailures       int           `json:"total_failures"`
	Pending             int           `json:"pending"`
}

// Stream statuses.
const (
	EventStreamEnabled  = "enabled"
	EventStreamDisabled = "disabled"
)

// streams is the emulator's registry of event streams.
type streams struct {
	mu   sync.RWMutex
	byID map[string]*eventStream
	list []*eventStream // creation order
}

// CreateEventStream creates an enabled stream and returns its id (est_...).
// Events appended after this call are delivered; earlier ones are not.
func (e *Emulator) CreateEventStream(cfg EventStreamConfig) (string, error) {
	if err := cfg.Check(); err != nil {
		return "", err
	}
	cfg.Subscriptions = slices.Clone(cfg.Subscriptions)
	cfg.WebhookEndpoints = slices.Clone(cfg.WebhookEndpoints)
	cfg.Delivery = cfg.Delivery.withDefaults(e.cfg.EventStreamDefaults)
	e.streams.mu.Lock()
	defer e.streams.mu.Unlock()
	if e.streams.byID == nil {
		e.streams.byID = map[string]*eventStream{}
	}
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("stream-%d", len(e.streams.list)+1)
	}
	id := "est_" + e.randAlnum(16)
	s := newEventStream(e, id, cfg)
	e.streams.byID[id] = s
	e.streams.list = append(e.streams.list, s)
	return id, nil
}

func (e *Emulator) stream(id string) (*eventStream, error) {
	e.streams.mu.RLock()
	defer e.streams.mu.RUnlock()
	s, ok := e.streams.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrEventStreamNotFound, id)
	}
	return s, nil
}

// EventStreams lists the streams, oldest first.
func (e *Emulator) EventStreams() []EventStream {
	e.streams.mu.RLock()
	list := slices.Clone(e.streams.list)
	e.streams.mu.RUnlock()
	out := make([]EventStream, 0, len(list))
	for _, s := range list {
		out = append(out, s.view())
	}
	return out
}

// EventStream returns one stream's view.
func (e *Emulator) EventStream(id string) (EventStream, error) {
	s, err := e.stream(id)
	if err != nil {
		return EventStream{}, err
	}
	return s.view(), nil
}

// DeleteEventStream stops a stream's deliveries and removes it.
func (e *Emulator) DeleteEventStream(id string) error {
	e.streams.mu.Lock()
	s, ok := e.streams.byID[id]
	if ok {
		delete(e.streams.byID, id)
		e.streams.list = slices.DeleteFunc(e.streams.list, func(x *eventStream) bool { return x == s })
	}
	e.streams.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrEventStreamNotFound, id)
	}
	s.stop()
	return nil
}

// Close stops every event stream's deliveries (the streams are removed).
// The emulator keeps serving HTTP.
func (e *Emulator) Close() {
	e.streams.mu.Lock()
	list := e.streams.list
	e.streams.list, e.streams.byID = nil, nil
	e.streams.mu.Unlock()
	for _, s := range list {
		s.stop()
	}
}

// UpdateEventStream changes a stream at run time: f gets a copy of its
// configuration (delivery knobs with defaults applied; a field set to zero
// takes the default again) and the result is validated like a new stream's.
// Delivery.Concurrency is fixed at creation (zero keeps it). Deliveries already queued keep
// their event; their next attempt uses the new endpoints, credentials and
// knobs.
func (e *Emulator) UpdateEventStream(id string, f func(*EventStreamConfig)) error {
	s, err := e.stream(id)
	if err != nil {
		return err
	}
	return s.update(f, e.cfg.EventStreamDefaults)
}

// SetEventStreamEnabled disables or re-enables a stream. Re-enabling
// resets the consecutive-failure count; failed deliveries stay failed until
// RedeliverEvents.
func (e *Emulator) SetEventStreamEnabled(id string, enabled bool) error {
	s, err := e.stream(id)
	if err != nil {
		return err
	}
	s.setEnabled(enabled)
	return nil
}

// Deliveries returns a stream's delivery log, oldest first, each with its
// attempts.
func (e *Emulator) Deliveries(id string) ([]Delivery, error) {
	s, err := e.stream(id)
	if err != nil {
		return nil, err
	}
	return s.deliveries(), nil
}

// DeliveriesPending is the number of a stream's deliveries neither
// delivered (2xx) nor failed: held back, queued, in flight or waiting for
// a retry. 0 (with no failed deliveries) means every event got a 2xx.
// Unknown id: 0.
func (e *Emulator) DeliveriesPending(id string) int {
	s, err := e.stream(id)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// WaitDeliveries blocks until the stream has no pending delivery or ctx
// ends; then it returns the number of failed deliveries (0 = every event
// delivered with a 2xx).
func (e *Emulator) WaitDeliveries(ctx context.Context, id string) (failed int, err error) {
	s, err := e.stream(id)
	if err != nil {
		return 0, err
	}
	for {
		s.mu.Lock()
		pending, idle := s.pending, s.idle
		failed = s.failedCountLocked()
		s.mu.Unlock()
		if pending == 0 {
			return failed, nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return failed, fmt.Errorf("event stream %s: %d deliveries still pending: %w", id, pending, ctx.Err())
		}
	}
}

// RedeliverEvents retries failed deliveries of an enabled stream: the ones
// named, or every failed one when none is named. Each gets a fresh round of
// MaxAttempts. It returns how many were queued.
func (e *Emulator) RedeliverEvents(id string, deliveryIDs ...string) (int, error) {
	s, err := e.stream(id)
	if err != nil {
		return 0, err
	}
	return s.redeliver(deliveryIDs)
}

// UpdateUser applies fields to a user as PATCH /users/{id} does (not
// schema-checked) and returns the user as GET /users/{id} answers; a
// user.updated event is appended.
func (e *Emulator) UpdateUser(id string, fields map[string]any) ([]byte, error) {
	raw, herr := e.updateUser(id, fields)
	if herr != nil {
		if herr.status == http.StatusNotFound {
			return nil, fmt.Errorf("emulator: update user %q: %w", id, ErrUserNotFound)
		}
		return nil, fmt.Errorf("emulator: update user %q: %d %s", id, herr.status, herr.message)
	}
	return append([]byte(nil), raw...), nil
}

// ErrUserNotFound is returned by UpdateUser for an unknown id.
var ErrUserNotFound = errors.New("user not found")

// publishToStreams hands one event of the log to every subscribed stream.
// Called by the event log, in log order, under its lock: streams never call
// back into the log or the store.
func (e *Emulator) publishToStreams(typ string, evtID []byte, at time.Time, obj []byte) {
	e.streams.mu.RLock()
	defer e.streams.mu.RUnlock()
	for _, s := range e.streams.list {
		s.offer(typ, evtID, at, obj)
	}
}

// randAlnum draws n alphanumerics from the emulator's randomness.
func (e *Emulator) randAlnum(n int) string {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = evAlnum[e.rnd.IntN(len(evAlnum))]
	}
	return string(b)
}
