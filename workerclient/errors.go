package workerclient

import (
	"encoding/json"
	"strconv"
)

// Error is a command's failure as the worker replied it (README "Commands"):
// headers Nats-Service-Error-Code / Nats-Service-Error and body
// {"error": {"status", "code", "message", "auth0"}}.
type Error struct {
	// Status is the HTTP-like status: 400, 403, 404, 409, 413, 429, 500,
	// 502, 503 or 504.
	Status int `json:"status"`
	// Code names the case, e.g. "invalid_command", "not_found", "overloaded".
	Code string `json:"code"`
	// Message is one line; for invalid commands it names the field.
	Message string `json:"message"`
	// Auth0 is Auth0's own error body when Auth0 produced the failure
	// (a JSON string when Auth0 did not answer JSON), else nil.
	Auth0 json.RawMessage `json:"auth0,omitempty"`
}

func (e *Error) Error() string {
	return "auth0-worker: " + strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
}

// Is matches a sentinel of this package: a status sentinel (ErrNotFound)
// matches every error of that status, a code sentinel (ErrOverloaded)
// matches that code only.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	if !ok {
		return false
	}
	if s.code != "" {
		return e.Code == s.code
	}
	return e.Status == s.status
}

// Temporary reports whether the same command may succeed later (429, 503,
// 504, and 502 from an Auth0 server error).
func (e *Error) Temporary() bool {
	switch e.Status {
	case 429, 503, 504:
		return true
	case 502:
		return e.Code == "auth0_error"
	}
	return false
}

type sentinel struct {
	status int
	code   string
	text   string
}

func (s *sentinel) Error() string { return "auth0-worker: " + s.text }

// Status sentinels: errors.Is(err, ErrNotFound) is true for every *Error of
// that status.
var (
	ErrBadRequest     error = &sentinel{status: 400, text: "bad request"}
	ErrForbidden      error = &sentinel{status: 403, text: "forbidden"}
	ErrNotFound       error = &sentinel{status: 404, text: "not found"}
	ErrConflict       error = &sentinel{status: 409, text: "conflict"}
	ErrTooLarge       error = &sentinel{status: 413, text: "reply too large"}
	ErrRateLimited    error = &sentinel{status: 429, text: "rate limited"}
	ErrInternal       error = &sentinel{status: 500, text: "internal error"}
	ErrBadGateway     error = &sentinel{status: 502, text: "Auth0 failed"}
	ErrUnavailable    error = &sentinel{status: 503, text: "unavailable"}
	ErrCommandTimeout error = &sentinel{status: 504, text: "command timed out"}
)

// Code sentinels: errors.Is(err, ErrOverloaded) is true only for that code.
var (
	ErrInvalidCommand       error = &sentinel{code: "invalid_command", text: "invalid command"}
	ErrNotAllowed           error = &sentinel{code: "not_allowed", text: "api.call not allowed by AUTH0_API_CALL_ALLOW"}
	ErrIdempotencyKeyReused error = &sentinel{code: "idempotency_key_reused", text: "idempotency key reused with another command or body"}
	ErrReplyTooLarge        error = &sentinel{code: "reply_too_large", text: "reply too large; narrow it with fields or limit"}
	ErrOverloaded           error = &sentinel{code: "overloaded", text: "worker overloaded"}
)

// decodeError builds the *Error of an error reply. A body that is not the
// worker's error shape still yields an *Error with the header's status.
func decodeError(status int, header string, body []byte) *Error {
	var b struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != nil && b.Error.Status != 0 {
		return b.Error
	}
	return &Error{Status: status, Code: "unknown", Message: header}
}
