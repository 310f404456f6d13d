package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// Error codes of the reply body's error.code (README "Commands"). The status is
// the number in Nats-Service-Error-Code; the code says which case it is.
const (
	CodeInvalidCommand    = "invalid_command"    // 400: our validation, nothing reached Auth0
	CodeAuth0BadRequest   = "auth0_bad_request"  // 400 from Auth0 (its body under "auth0")
	CodeAuth0Forbidden    = "auth0_forbidden"    // 403 from Auth0
	CodeNotFound          = "not_found"          // 404 from Auth0
	CodeConflict          = "conflict"           // 409 from Auth0
	CodeAuth0Rejected     = "auth0_rejected"     // another 4xx from Auth0
	CodeNotAllowed        = "not_allowed"        // 403: api.call not allowed by AUTH0_API_CALL_ALLOW
	CodeRateLimited       = "rate_limited"       // 429 after the client's retries
	CodeAuth0Error        = "auth0_error"        // 502: Auth0 5xx
	CodeAuth0Unauthorized = "auth0_unauthorized" // 502: 401 that survived a token refresh, or token refused
	CodeAuth0Ambiguous    = "auth0_ambiguous"    // 502: a create may or may not have happened
	CodeAuth0Unavailable  = "auth0_unavailable"  // 503: Auth0 unreachable
	CodeShuttingDown      = "shutting_down"      // 503: the worker stopped before the command ran
	CodeTimeout           = "timeout"            // 504: COMMAND_TIMEOUT passed
	CodeInternal          = "internal"           // 500: a recovered panic or a worker bug
	CodeStoreUnavailable  = "store_unavailable"  // 503: Redis unreachable while an Idempotency-Key needed it
)

// Error is a command's failure as it is replied: status, code, a one-line
// message, and Auth0's error body when Auth0 produced it. Transient errors
// (429, 5xx, unreachable, timeout) are retried by the durable transport and
// never stored as outcomes.
type Error struct {
	Status  int
	Code    string
	Message string
	// Auth0 is Auth0's error body (JSON), if Auth0 produced one.
	Auth0 json.RawMessage
	// Transient marks failures worth retrying later.
	Transient bool
	// RetryAt is when Auth0 said its rate-limit tokens return (429), if known.
	RetryAt time.Time
	// Ambiguous marks a create whose outcome is unknown.
	Ambiguous bool
	cause     error
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message }
func (e *Error) Unwrap() error { return e.cause }

// Body is the reply body {"error": {"status", "code", "message", "auth0"?}}.
func (e *Error) Body() []byte {
	type inner struct {
		Status  int             `json:"status"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Auth0   json.RawMessage `json:"auth0,omitempty"`
	}
	return marshalNoEscape(struct {
		Error inner `json:"error"`
	}{inner{e.Status, e.Code, e.Message, e.Auth0}})
}

func invalidf(format string, args ...any) *Error {
	return &Error{Status: 400, Code: CodeInvalidCommand, Message: oneLine(fmt.Sprintf(format, args...))}
}

// auth0Body returns Auth0's error body as JSON (a JSON string when Auth0
// did not answer JSON), or nil; client_secret is redacted, failing closed,
// for every command (README "Commands").
func auth0Body(b []byte) json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if !json.Valid(b) {
		b, _ = json.Marshal(string(b))
	}
	return redactBody(b, replySecrets)
}

// classify maps any error of an execution to its status (README "Commands"). ctx is the
// command's context: its deadline turns into 504 whatever the client made
// of it, its cancellation (shutdown) into a transient 503.
func classify(ctx context.Context, op string, err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	if ctx != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Error{Status: 504, Code: CodeTimeout, Message: op + ": command timed out (COMMAND_TIMEOUT)", Transient: true, Ambiguous: errors.Is(err, auth0.ErrAmbiguous), cause: err}
		}
		return &Error{Status: 503, Code: CodeShuttingDown, Message: op + ": worker shutting down", Transient: true, Ambiguous: errors.Is(err, auth0.ErrAmbiguous), cause: err}
	}
	var ae *auth0.APIError
	if errors.As(err, &ae) {
		return classifyAPI(op, ae, err)
	}
	if e := classifyKnown(op, err); e != nil {
		return e
	}
	var te *auth0.TokenError
	if errors.As(err, &te) {
		return classifyToken(op, te, err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &Error{Status: 503, Code: CodeAuth0Unavailable, Message: op + ": auth0 unreachable", Transient: true, cause: err}
	}
	return &Error{Status: 502, Code: CodeAuth0Error, Message: op + ": " + oneLine(err.Error()), Transient: true, cause: err}
}

// classifyAPI maps an answer of Auth0 by its status.
func classifyAPI(op string, ae *auth0.APIError, err error) *Error {
	e := &Error{Status: ae.Status, Auth0: auth0Body(ae.Body), Message: op + ": auth0: " + oneLine(apiMessage(ae)), RetryAt: ae.RetryAt,
		Ambiguous: errors.Is(err, auth0.ErrAmbiguous), cause: err}
	switch {
	case ae.Status == 400:
		e.Code = CodeAuth0BadRequest
	case ae.Status == 401:
		e.Status, e.Code, e.Transient = 502, CodeAuth0Unauthorized, true
	case ae.Status == 403:
		e.Code = CodeAuth0Forbidden
	case ae.Status == 404:
		e.Code = CodeNotFound
	case ae.Status == 409:
		e.Code = CodeConflict
	case ae.Status == 429:
		e.Code, e.Transient = CodeRateLimited, true
	case ae.Status >= 500:
		e.Status, e.Code, e.Transient = 502, CodeAuth0Error, true
	case ae.Status >= 400:
		e.Code = CodeAuth0Rejected
	default:
		e.Status, e.Code, e.Transient = 502, CodeAuth0Error, true
	}
	return e
}

// classifyKnown maps the auth0 package's sentinel errors, or returns nil.
func classifyKnown(op string, err error) *Error {
	switch {
	case errors.Is(err, auth0.ErrNotAllowed):
		return &Error{Status: 403, Code: CodeNotAllowed, Message: op + ": not allowed by AUTH0_API_CALL_ALLOW", cause: err}
	case errors.Is(err, auth0.ErrInvalidPath), errors.Is(err, auth0.ErrForbiddenHeader), errors.Is(err, auth0.ErrInvalidRequest):
		return &Error{Status: 400, Code: CodeInvalidCommand, Message: op + ": " + oneLine(err.Error()), cause: err}
	case errors.Is(err, auth0.ErrRateLimited):
		return &Error{Status: 429, Code: CodeRateLimited, Message: op + ": auth0 rate limit", Transient: true, cause: err}
	case errors.Is(err, auth0.ErrAmbiguous):
		return &Error{Status: 502, Code: CodeAuth0Ambiguous, Message: op + ": auth0 outcome unknown (the request may have been processed)", Transient: true, Ambiguous: true, cause: err}
	case errors.Is(err, auth0.ErrUnavailable):
		return &Error{Status: 503, Code: CodeAuth0Unavailable, Message: op + ": auth0 unreachable", Transient: true, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: 504, Code: CodeTimeout, Message: op + ": command timed out", Transient: true, cause: err}
	}
	return nil
}

// classifyToken maps a token failure. The secret is never in
// TokenError's text; only the OAuth code is shown. Only a 4xx is a
// refusal of the credentials: a 5xx (or a broken 200) is the token
// endpoint failing.
func classifyToken(op string, te *auth0.TokenError, err error) *Error {
	if te.Status >= 400 && te.Status < 500 {
		return &Error{Status: 502, Code: CodeAuth0Unauthorized, Message: op + ": auth0 refused the worker's credentials (" + oneLine(te.Code) + ")", Transient: true, cause: err}
	}
	return &Error{Status: 502, Code: CodeAuth0Error, Message: op + ": auth0 token endpoint failed (" + strconv.Itoa(te.Status) + " " + oneLine(te.Code) + ")", Transient: true, cause: err}
}

func apiMessage(ae *auth0.APIError) string {
	msg := strconv.Itoa(ae.Status)
	if ae.ErrorCode != "" {
		msg += " " + ae.ErrorCode
	}
	if ae.Message != "" {
		msg += " " + ae.Message
	}
	return msg
}

// internalError is the reply for a recovered panic.
func internalError(op string) *Error {
	return &Error{Status: 500, Code: CodeInternal, Message: op + ": internal error (logged)"}
}
