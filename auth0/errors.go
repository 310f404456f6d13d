package auth0

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Sentinel errors, usable with errors.Is.
var (
	// ErrInvalidConfig is matched by every error of New about its Config.
	ErrInvalidConfig = errors.New("auth0: invalid Config")
	// ErrAmbiguous: a non-idempotent call (a create) failed in a way that
	// leaves its outcome unknown — Auth0 may have processed it. The caller
	// must check (for example by user_id or email) before trying again.
	ErrAmbiguous = errors.New("auth0: outcome unknown (the request may have been processed)")
	// ErrUnavailable: Auth0 could not be reached (network errors) after retries.
	ErrUnavailable = errors.New("auth0: unreachable")
	// ErrRateLimited: Auth0 still answered 429 after retries (an *APIError
	// with Status 429 matches it).
	ErrRateLimited = errors.New("auth0: rate limited")
	// ErrCursorExpired: the events offset is past retention (HTTP 410 or
	// `event: error` cursor_expired). Resume with FromTimestamp.
	ErrCursorExpired = errors.New("auth0: events cursor expired")
	// ErrInvalidCursor: Auth0 cannot place the events offset (`event: error`
	// invalid_cursor, or 400 on connect while resuming from an offset).
	// Like ErrCursorExpired, reconnecting from that offset cannot help:
	// resume with FromTimestamp.
	ErrInvalidCursor = errors.New("auth0: events cursor invalid")
	// ErrInsufficientScope: 403 insufficient_scope.
	ErrInsufficientScope = errors.New("auth0: insufficient scope")
	// ErrConnectionLimit: 403 on /events because the plan's concurrent
	// connection limit is reached (errorCode too_many_connections). Not a
	// refusal: back off and retry.
	ErrConnectionLimit = errors.New("auth0: events concurrent-connection limit reached")
	// ErrNotFound: 404 (an *APIError with Status 404 matches it).
	ErrNotFound = errors.New("auth0: not found")
	// ErrNotAllowed: the api.call allowlist does not allow the call.
	ErrNotAllowed = errors.New("auth0: api.call not allowed")
	// ErrInvalidPath: the api.call path breaks the path rules (README "Security").
	ErrInvalidPath = errors.New("auth0: invalid api.call path")
	// ErrForbiddenHeader: the api.call carries Authorization or Host, or a
	// header value with control characters.
	ErrForbiddenHeader = errors.New("auth0: forbidden api.call header")
	// ErrInvalidRequest: an argument is unusable (empty user id, bad method...).
	ErrInvalidRequest = errors.New("auth0: invalid request")
	// ErrResponseTooLarge: a response body exceeded Config.MaxResponseBytes.
	// It is never cut silently; a *ResponseTooLargeError matches it.
	ErrResponseTooLarge = errors.New("auth0: response too large")
)

// ResponseTooLargeError says which call answered more than the client reads.
type ResponseTooLargeError struct {
	Op    string // "users.search", ...
	Limit int    // Config.MaxResponseBytes
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("auth0: %s: response larger than %d bytes (Config.MaxResponseBytes)", e.Op, e.Limit)
}

// Unwrap makes errors.Is(e, ErrResponseTooLarge) true.
func (e *ResponseTooLargeError) Unwrap() error { return ErrResponseTooLarge }

// APIError is a Management API error response. Match on Status and
// ErrorCode (Auth0's messages change), or with errors.Is on the sentinels
// it maps to: ErrNotFound (404), ErrRateLimited (429),
// ErrInsufficientScope (403 insufficient_scope), ErrConnectionLimit (403
// too_many_connections), ErrCursorExpired (410).
type APIError struct {
	Status    int
	ErrorCode string
	Message   string
	Body      []byte    // Auth0's raw error body
	RetryAt   time.Time // for 429: when Auth0 said tokens return
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("auth0: ")
	b.WriteString(fmt.Sprint(e.Status))
	if e.ErrorCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorCode)
	}
	msg := e.Message
	if msg == "" {
		msg = httpStatusText(e.Status)
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	return b.String()
}

// Is maps the error onto the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrRateLimited:
		return e.Status == 429
	case ErrInsufficientScope:
		return e.Status == 403 && e.ErrorCode == "insufficient_scope"
	case ErrConnectionLimit:
		return e.Status == 403 && e.ErrorCode == "too_many_connections"
	case ErrCursorExpired:
		return e.Status == 410
	}
	return false
}

// newAPIError decodes Auth0's error shape
// {"statusCode","error","message","errorCode"}; a body of another shape is
// kept raw and the message falls back to the status text.
func newAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status, Body: body}
	var shape struct {
		Error     string `json:"error"`
		Message   string `json:"message"`
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(body, &shape) == nil {
		e.ErrorCode, e.Message = shape.ErrorCode, shape.Message
		if e.Message == "" {
			e.Message = shape.Error
		}
	}
	return e
}

// TokenError is an OAuth-shaped /oauth/token error
// ({"error":"access_denied","error_description":"Unauthorized"}).
type TokenError struct {
	Status      int
	Code        string // "access_denied", "invalid_client", ...
	Description string
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("auth0: token: %d %s", e.Status, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is lets a token endpoint 429 match ErrRateLimited.
func (e *TokenError) Is(target error) bool {
	return target == ErrRateLimited && e.Status == 429
}

// StreamError is an `event: error` message of the Events API stream. Code
// is Auth0's code (invalid_cursor, cursor_expired, timeout,
// payload_too_large, processing_error, connection_timeout); Offset is the
// cursor it gave, if any. cursor_expired matches ErrCursorExpired.
type StreamError struct {
	Code    string
	Message string
	Offset  string
}

func (e *StreamError) Error() string {
	s := "auth0: events: stream error " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is maps cursor_expired to ErrCursorExpired and invalid_cursor to
// ErrInvalidCursor.
func (e *StreamError) Is(target error) bool {
	switch target {
	case ErrCursorExpired:
		return e.Code == "cursor_expired"
	case ErrInvalidCursor:
		return e.Code == "invalid_cursor"
	}
	return false
}

// transportError describes a failed HTTP exchange without the request URL's
// query (personal data such as emails) and without anything the transport
// might echo. It unwraps to the underlying cause (not the *url.Error) so
// errors.Is(err, context.DeadlineExceeded) and net errors keep working.
type transportError struct {
	op     string // our operation name
	method string
	path   string
	cause  error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("auth0: %s: %s %s: %v", e.op, e.method, e.path, e.cause)
}

func (e *transportError) Unwrap() error { return e.cause }

// cleanTransportErr strips *url.Error (whose message carries the full URL)
// down to its cause.
func cleanTransportErr(op, method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &transportError{op: op, method: method, path: path, cause: err}
}

// notSent reports whether a transport error proves the request never reached
// Auth0 (so even a create may be retried): the TCP connection was never
// established.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func httpStatusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	}
	return ""
}
