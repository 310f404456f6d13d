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
	safe := idempotent(cl.method)
	tok, gen, err := c.tokens.get(ctx)
	if err != nil {
		// fetchToken already retried what deserved it; retrying here too
		// would multiply the attempts.
		return nil, false, err
	}
	if err := c.gate.acquire(ctx); err != nil {
		return nil, false, err
	}
	if c.rps != nil {
		if err := c.rps.Wait(ctx); err != nil {
			c.gate.release(rateInfo{}, 0)
			return nil, false, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), body)
	if err != nil {
		c.gate.release(rateInfo{}, 0)
		return nil, false, fmt.Errorf("auth0: %s: %w", cl.op, err)
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
	resp, err := c.hc.Do(req)
	if err != nil {
		c.gate.release(rateInfo{}, 0)
		c.observe(cl.op, 0)
		terr := cleanTransportErr(cl.op, cl.method, u.EscapedPath(), err)
		if ctx.Err() != nil {
			if !safe {
				return nil, false, fmt.Errorf("%w: %w", ErrAmbiguous, terr)
			}
			return nil, false, terr
		}
		if !safe && !notSent(err) {
			return nil, false, fmt.Errorf("%w: %w", ErrAmbiguous, terr)
		}
		return nil, true, fmt.Errorf("%w: %w", ErrUnavailable, terr)
	}
	limit := c.cfg.MaxResponseBytes
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	resp.Body.Close()
	if rerr == nil && len(raw) > limit {
		// Never cut silently: a cut page would look like a transient
		// failure forever. Not retryable: the same request answers the same.
		c.gate.release(parseRateInfo(resp.Header, c.now()), resp.StatusCode)
		c.observe(cl.op, resp.StatusCode)
		return nil, false, &ResponseTooLargeError{Op: cl.op, Limit: limit}
	}
	ri := parseRateInfo(resp.Header, c.now())
	c.gate.release(ri, resp.StatusCode)
	c.observe(cl.op, resp.StatusCode)
	if ri.ok && c.cfg.Observer != nil {
		c.cfg.Observer.RateLimit(ri.remaining)
	}
	if rerr != nil {
		terr := cleanTransportErr(cl.op, cl.method, u.EscapedPath(), rerr)
		if !safe {
			return nil, false, fmt.Errorf("%w: %w", ErrAmbiguous, terr)
		}
		return nil, ctx.Err() == nil, fmt.Errorf("%w: %w", ErrUnavailable, terr)
	}
	st := resp.StatusCode
	if st == http.StatusUnauthorized && !*refreshed {
		*refreshed = true
		c.tokens.invalidate(gen)
		c.log.Debug("auth0: 401, fetching a new token", "op", cl.op)
		// A fresh token is a new attempt, not a retry of a failure.
		return c.attempt(ctx, cl, u, refreshed)
	}
	res := &result{status: st, header: resp.Header, body: raw}
	if st >= 200 && st < 300 {
		return res, false, nil
	}
	apiErr := newAPIError(st, raw)
	if st == http.StatusTooManyRequests {
		apiErr.RetryAt = ri.retryAt()
		if cl.anyStatus {
			return res, true, &retryableResult{res: res, err: apiErr}
		}
		return nil, true, apiErr
	}
	if st >= 500 {
		if cl.anyStatus && safe {
			return res, true, &retryableResult{res: res, err: apiErr}
		}
		if !safe {
			if cl.anyStatus {
				return res, false, nil
			}
			return nil, false, fmt.Errorf("%w: %w", ErrAmbiguous, apiErr)
		}
		return nil, true, apiErr
	}
	if cl.anyStatus {
		return res, false, nil
	}
	return nil, false, apiErr
}

// retryableResult carries a non-2xx answer that Raw returns as-is once
// retries are exhausted.
type retryableResult struct {
	res *result
	err error
}

func (r *retryableResult) Error() string { return r.err.Error() }
func (r *retryableResult) Unwrap() error { return r.err }
