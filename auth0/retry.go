package auth0

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// call is one logical API call; do runs its attempts.
type call struct {
	op      string
	method  string
	path    string // escaped, relative to /api/v2 ("/users/auth0%7C1")
	query   url.Values
	body    []byte
	headers http.Header // extra request headers (already allowlisted)
	// anyStatus returns non-2xx answers as results instead of *APIError
	// (api.call); retries still apply.
	anyStatus bool
}

// result is Auth0's final answer to a call.
type result struct {
	status int
	header http.Header
	body   []byte
}

// idempotent: repeating the request cannot create a second effect. PATCH is
// treated as idempotent: the same body sets the same values again (metadata
// merges and null deletes included). POST is not: a create may have been
// processed even when its answer was lost.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPatch, http.MethodPut, http.MethodOptions:
		return true
	}
	return false
}

func (c *Client) newBackoff(ctx context.Context) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	b.MaxElapsedTime = 0 // bounded by MaxRetries and ctx instead
	b.RandomizationFactor = 0.3
	return backoff.WithContext(b, ctx)
}

// do sends a call with the rate-limit, token and retry rules:
//   - 429: wait for Retry-After / X-RateLimit-Reset (shared with every
//     goroutine through the gate), then retry — also for POST, because a 429
//     was certainly not processed.
//   - 5xx and network errors: retry with exponential backoff when the method
//     is idempotent; for POST only when the connection was never made
//     (dial error); otherwise the error wraps ErrAmbiguous.
//   - 401: fetch a new token once and retry; a second 401 is returned.
//   - at most MaxRetries retries; ctx ends everything.
func (c *Client) do(ctx context.Context, cl *call) (*result, error) {
	u, err := c.apiURL(cl.path, cl.query)
	if err != nil {
		return nil, err
	}
	if u.Host != c.base.Host || u.Scheme != c.base.Scheme {
		// Unreachable by construction; the bearer token must never leave the tenant.
		return nil, fmt.Errorf("%w: request would leave the tenant's base URL", ErrInvalidPath)
	}
	var bo backoff.BackOff // built on the first retry: most calls never need it
	refreshed := false
	retries := 0
	for {
		res, retryable, err := c.attempt(ctx, cl, u, &refreshed)
		if err == nil {
			return res, nil
		}
		if !retryable || ctx.Err() != nil || retries >= c.cfg.MaxRetries {
			var rr *retryableResult
			if errors.As(err, &rr) {
				return rr.res, nil
			}
			return nil, err
		}
		retries++
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
			// The gate holds everyone until Auth0's reset; no extra backoff.
			c.log.Debug("auth0: rate limited, waiting for the reset", "op", cl.op, "retry_at", ae.RetryAt, "attempt", retries)
			continue
		}
		if bo == nil {
			bo = c.newBackoff(ctx)
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return nil, err
		}
		c.log.Debug("auth0: request failed, retrying", "op", cl.op, "attempt", retries, "in", d, "err", err)
		if serr := sleepCtx(ctx, d); serr != nil {
			return nil, err
		}
	}
}

// attempt sends one request. retryable tells do whether another attempt is
// allowed by the rules (it still checks MaxRetries).
func (c *Client) attempt(ctx context.Context, cl *call, u *url.URL, refreshed *bool) (*result, bool, error) {
	tok, gen, err := c.admit(ctx)
	if err != nil {
		return nil, false, err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := c.newRequest(actx, cl, u, tok)
	if err != nil {
		c.gate.release(rateInfo{}, 0)
		return nil, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.gate.release(rateInfo{}, 0)
		c.observe(cl.op, 0)
		retryable, err := transportFailure(ctx, cl, u, err)
		return nil, retryable, err
	}
	raw, ri, retryable, err := c.readResponse(ctx, cl, u, resp)
	if err != nil {
		return nil, retryable, err
	}
	if resp.StatusCode == http.StatusUnauthorized && !*refreshed {
		*refreshed = true
		c.tokens.invalidate(gen)
		c.log.Debug("auth0: 401, fetching a new token", "op", cl.op)
		// A fresh token is a new attempt, not a retry of a failure.
		return c.attempt(ctx, cl, u, refreshed)
	}
	return answer(cl, &result{status: resp.StatusCode, header: resp.Header, body: raw}, ri)
}

// admit waits for what an attempt needs before it is sent: a token, a place
// in the rate-limit gate and the RPS limiter. On success the caller owns a
// gate slot and must release it.
func (c *Client) admit(ctx context.Context) (tok string, gen uint64, err error) {
	tok, gen, err = c.tokens.get(ctx)
	if err != nil {
		// fetchToken already retried what deserved it; retrying here too
		// would multiply the attempts.
		return "", 0, err
	}
	if err := c.gate.acquire(ctx); err != nil {
		return "", 0, err
	}
	if c.rps != nil {
		if err := c.rps.Wait(ctx); err != nil {
			c.gate.release(rateInfo{}, 0)
			return "", 0, err
		}
	}
	return tok, gen, nil
}

// newRequest builds the HTTP request of cl with the bearer token.
func (c *Client) newRequest(ctx context.Context, cl *call, u *url.URL, tok string) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("auth0: %s: %w", cl.op, err)
	}
	req.URL = u // keep RawPath exactly as escaped
	for k, v := range cl.headers {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if cl.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// transportFailure classifies a request that got no answer: retried when
// the method is idempotent or the request was never sent; a request that
// may have reached Auth0 is ambiguous for a non-idempotent method.
func transportFailure(ctx context.Context, cl *call, u *url.URL, err error) (retryable bool, _ error) {
	terr := cleanTransportErr(cl.op, cl.method, u.EscapedPath(), err)
	safe := idempotent(cl.method)
	switch {
	case !safe && (ctx.Err() != nil || !notSent(err)):
		return false, fmt.Errorf("%w: %w", ErrAmbiguous, terr)
	case ctx.Err() != nil:
		return false, terr
	}
	return true, fmt.Errorf("%w: %w", ErrUnavailable, terr)
}

// readResponse reads the body (at most MaxResponseBytes: a larger answer is
// a *ResponseTooLargeError, never cut silently) and reports the answer to the
// rate-limit gate and the observer.
func (c *Client) readResponse(ctx context.Context, cl *call, u *url.URL, resp *http.Response) ([]byte, rateInfo, bool, error) {
	limit := c.cfg.MaxResponseBytes
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	resp.Body.Close()
	ri := c.settle(cl.op, resp)
	if rerr == nil && len(raw) > limit {
		// A cut page would look like a transient failure forever. Not
		// retryable: the same request answers the same.
		return nil, ri, false, &ResponseTooLargeError{Op: cl.op, Limit: limit}
	}
	if rerr != nil {
		terr := cleanTransportErr(cl.op, cl.method, u.EscapedPath(), rerr)
		if !idempotent(cl.method) {
			return nil, ri, false, fmt.Errorf("%w: %w", ErrAmbiguous, terr)
		}
		return nil, ri, ctx.Err() == nil, fmt.Errorf("%w: %w", ErrUnavailable, terr)
	}
	return raw, ri, false, nil
}

// settle reports an answer to the rate-limit gate (which releases the
// caller's slot) and to the observer.
func (c *Client) settle(op string, resp *http.Response) rateInfo {
	ri := parseRateInfo(resp.Header, time.Now())
	c.gate.release(ri, resp.StatusCode)
	c.observe(op, resp.StatusCode)
	if ri.ok && c.cfg.Observer != nil {
		c.cfg.Observer.RateLimit(ri.remaining)
	}
	return ri
}

// answer turns Auth0's status into the outcome of an attempt: 2xx is the
// result; 429 is retried, and so is 5xx for an idempotent method (a 5xx to
// a POST is ambiguous); with anyStatus (api.call) a final non-2xx answer is
// the result instead of an error.
func answer(cl *call, res *result, ri rateInfo) (*result, bool, error) {
	st := res.status
	if st >= 200 && st < 300 {
		return res, false, nil
	}
	apiErr := newAPIError(st, res.body)
	switch {
	case st == http.StatusTooManyRequests:
		apiErr.RetryAt = ri.retryAt()
		return retryWith(cl, res, apiErr)
	case st >= 500 && idempotent(cl.method):
		return retryWith(cl, res, apiErr)
	case st >= 500 && !cl.anyStatus:
		return nil, false, fmt.Errorf("%w: %w", ErrAmbiguous, apiErr)
	case cl.anyStatus:
		return res, false, nil
	}
	return nil, false, apiErr
}

// retryWith asks for a retry of a non-2xx answer; with anyStatus the answer
// is kept so that do can return it once the retries are exhausted.
func retryWith(cl *call, res *result, apiErr *APIError) (*result, bool, error) {
	if cl.anyStatus {
		return res, true, &retryableResult{res: res, err: apiErr}
	}
	return nil, true, apiErr
}

// retryableResult carries a non-2xx answer that Raw returns as-is once
// retries are exhausted.
type retryableResult struct {
	res *result
	err error
}

func (r *retryableResult) Error() string { return r.err.Error() }
func (r *retryableResult) Unwrap() error { return r.err }
