package auth0

// STUB: placeholders so dependants compile while the client is written.
// The client's author replaces this file with the real implementation
// (client.go, users.go, search.go, events.go, raw.go, errors.go) and deletes it.

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var errNotImplemented = errors.New("auth0: not implemented yet")

// Client is a Management API client. Safe for concurrent use.
type Client struct{ cfg Config }

func newClient(cfg Config) (*Client, error) { return &Client{cfg: cfg}, nil }

// EnsureToken obtains (or reuses) the access token; the token is never returned.
func (c *Client) EnsureToken(ctx context.Context) error { return errNotImplemented }

// GetUser reads one user (immediately consistent).
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	return nil, errNotImplemented
}

// CreateUser posts body (already validated JSON) to /users.
func (c *Client) CreateUser(ctx context.Context, body json.RawMessage) (*User, error) {
	return nil, errNotImplemented
}

// UpdateUser patches one user.
func (c *Client) UpdateUser(ctx context.Context, userID string, body json.RawMessage) (*User, error) {
	return nil, errNotImplemented
}

// DeleteUser deletes one user; nil also when it was already gone.
func (c *Client) DeleteUser(ctx context.Context, userID string) error { return errNotImplemented }

// UsersByEmail lists users with this email across connections ([] when none).
func (c *Client) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	return nil, errNotImplemented
}

// SearchUsers reads one page with include_totals=true.
func (c *Client) SearchUsers(ctx context.Context, p SearchParams) (*UsersPage, error) {
	return nil, errNotImplemented
}

// SearchAll iterates pages of 100 until a short page or the 1000 cap.
func (c *Client) SearchAll(p SearchParams) *UserIterator { return &UserIterator{} }

// UserIterator walks the users of a search; see SearchAll.
type UserIterator struct{ err error }

// Next advances; false at the end or on error (see Err).
func (it *UserIterator) Next(ctx context.Context) bool { it.err = errNotImplemented; return false }

// User is the current user.
func (it *UserIterator) User() User { return User{} }

// Err is the error that stopped the iteration, if any.
func (it *UserIterator) Err() error { return it.err }

// Capped reports that the 1000-result cap cut the result short.
func (it *UserIterator) Capped() bool { return false }

// Total is the number of matches Auth0 reported.
func (it *UserIterator) Total() int { return 0 }

// EventStream is an open Events API subscription.
type EventStream struct{}

// SubscribeEvents opens GET /api/v2/events.
func (c *Client) SubscribeEvents(ctx context.Context, p EventParams) (*EventStream, error) {
	return nil, errNotImplemented
}

// Next returns the next message (offset-only ones included).
func (s *EventStream) Next(ctx context.Context) (Event, error) { return Event{}, errNotImplemented }

// LastOffset is the newest offset received.
func (s *EventStream) LastOffset() string { return "" }

// Close ends the stream.
func (s *EventStream) Close() error { return nil }

// Raw executes an api.call under the DESIGN.md §5 rules.
func (c *Client) Raw(ctx context.Context, r RawRequest) (*RawResponse, error) {
	return nil, errNotImplemented
}

// CheckAPIPath applies the api.call path rules.
func CheckAPIPath(p string) error { return errNotImplemented }

// APIError is a Management API error response.
type APIError struct {
	Status    int
	ErrorCode string
	Message   string
	Body      []byte    // Auth0's raw error body
	RetryAt   time.Time // for 429: when Auth0 said tokens return
}

func (e *APIError) Error() string { return "auth0: " + e.Message }

// TokenError is an OAuth-shaped /oauth/token error.
type TokenError struct {
	Status      int
	Code        string // "access_denied", "invalid_client", ...
	Description string
}

func (e *TokenError) Error() string { return "auth0: token: " + e.Code }

// Sentinel errors, usable with errors.Is.
var (
	ErrAmbiguous         = errors.New("auth0: outcome unknown (the request may have been processed)")
	ErrUnavailable       = errors.New("auth0: unreachable")
	ErrRateLimited       = errors.New("auth0: rate limited")
	ErrCursorExpired     = errors.New("auth0: events cursor expired")
	ErrInsufficientScope = errors.New("auth0: insufficient scope")
	ErrConnectionLimit   = errors.New("auth0: events concurrent-connection limit reached")
	ErrNotAllowed        = errors.New("auth0: api.call not allowed")
	ErrInvalidPath       = errors.New("auth0: invalid api.call path")
)

