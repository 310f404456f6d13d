package contract

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/httpbuf"
)

// Option changes what Middleware checks.
type Option func(*mwOptions)

type mwOptions struct {
	requests bool
}

// WithRequests also validates every /api/v2 request (except the Events
// stream) against the spec, for tests of a client. Tests that send invalid
// requests on purpose must not use it.
func WithRequests() Option { return func(o *mwOptions) { o.requests = true } }

// Middleware wraps a handler (the emulator) for the test t: every 2xx
// response under /api/v2 is validated against the spec, every error
// response under /api/v2 against Auth0's error shape (APIErrorShape), every /oauth/token
// answer against the token or OAuth error shape; a mismatch fails t. The
// Events stream (/api/v2/events) passes through untouched (its payloads are
// checked with ValidateSchema by the Events tests). Responses are buffered,
// so keep it out of load tests where the cost matters.
func Middleware(t testing.TB, opts ...Option) func(http.Handler) http.Handler {
	t.Helper()
	v := Load(t)
	var o mwOptions
	for _, opt := range opts {
		opt(&o)
	}
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Errorf(format, args...)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path := r.URL.Path
			isAPI := strings.HasPrefix(path, "/api/v2/")
			isToken := strings.HasPrefix(path, "/oauth/token")
			if (!isAPI && !isToken) || path == "/api/v2/events" {
				next.ServeHTTP(w, r)
				return
			}
			if isAPI && o.requests {
				checkRequest(v, r, fail)
			}
			rec := httpbuf.New()
			next.ServeHTTP(rec, r)
			checkResponse(v, r, isToken, rec, fail)
			rec.SendTo(w)
		})
	}
}

// checkRequest validates r against the spec, keeping its body readable.
func checkRequest(v *Validator, r *http.Request, fail func(string, ...any)) {
	body, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := requestForSpec(r)
	c.Body = io.NopCloser(bytes.NewReader(body))
	if err := v.ValidateRequest(c); err != nil {
		fail("contract: %v", err)
	}
}

// checkResponse validates the answer to r: a token answer or OAuth error, a
// 2xx against the spec, any other status against Auth0's error shape.
func checkResponse(v *Validator, r *http.Request, isToken bool, rec *httpbuf.Writer, fail func(string, ...any)) {
	status, body := rec.Status(), rec.Body()
	switch {
	case isToken && status == http.StatusOK:
		if err := TokenResponseShape(body); err != nil {
			fail("contract: POST /oauth/token: %v", err)
		}
	case isToken:
		if err := OAuthErrorShape(body); err != nil {
			fail("contract: POST /oauth/token %d: %v", status, err)
		}
	case status >= 200 && status < 300:
		resp := &http.Response{StatusCode: status, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(body)), Request: r}
		c := requestForSpec(r)
		c.Body = http.NoBody
		if err := v.ValidateResponse(c, resp); err != nil {
			fail("contract: %v\nbody: %s", err, truncate(body))
		}
	case status == 499:
		// The client went away before the answer (the emulator's request
		// log status); nothing was sent.
	case len(body) > 0 || status != http.StatusMethodNotAllowed:
		if err := APIErrorShape(status, body); err != nil {
			fail("contract: %s %s: %v", r.Method, r.URL.RequestURI(), err)
		}
	}
}

// requestForSpec gives the validator what it needs: a Bearer header (the
// spec's security scheme) and an absolute URL.
func requestForSpec(r *http.Request) *http.Request {
	c := r.Clone(r.Context())
	if !strings.HasPrefix(strings.ToLower(c.Header.Get("Authorization")), "bearer ") {
		c.Header.Set("Authorization", "Bearer contract-check")
	}
	if c.URL.Host == "" {
		c.URL.Scheme = "http"
		c.URL.Host = r.Host
	}
	return c
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
