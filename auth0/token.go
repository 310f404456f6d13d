package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/auth0-worker/auth0-worker/internal/tick"
)

// tokenSource holds the client-credentials token shared by every goroutine.
// One goroutine fetches at a time; the others wait for its result.
//
// golang.org/x/oauth2/clientcredentials is not used on purpose: its errors
// (*oauth2.RetrieveError) print the token endpoint's response body, it
// cannot be told "this token was refused, fetch another" after a 401, and it
// offers no hook for our retry and Observer rules. The request itself is the
// plain RFC 6749 §4.4 exchange Auth0 documents.
type tokenSource struct {
	c *Client

	mu       sync.Mutex
	token    string
	gen      uint64    // bumps on every new token
	refresh  time.Time // fetch a new token from this time on
	fetching chan struct{}
}

// get returns a valid token and its generation.
func (t *tokenSource) get(ctx context.Context) (string, uint64, error) {
	for {
		t.mu.Lock()
		if t.token != "" && time.Now().Before(t.refresh) {
			tok, gen := t.token, t.gen
			t.mu.Unlock()
			return tok, gen, nil
		}
		if ch := t.fetching; ch != nil {
			t.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", 0, ctx.Err()
			}
		}
		ch := make(chan struct{})
		t.fetching = ch
		t.mu.Unlock()

		tok, lifetime, err := t.c.fetchToken(ctx)

		t.mu.Lock()
		t.fetching = nil
		close(ch)
		if err != nil {
			t.mu.Unlock()
			return "", 0, err
		}
		t.token = tok
		t.gen++
		// Refresh early by a tenth of the lifetime (at most a minute), so a
		// token never expires between our check and Auth0's.
		margin := lifetime / 10
		if margin > time.Minute {
			margin = time.Minute
		}
		t.refresh = time.Now().Add(lifetime - margin)
		gen := t.gen
		t.mu.Unlock()
		return tok, gen, nil
	}
}

// invalidate drops the token of generation gen (after a 401), unless a newer
// one has already replaced it.
func (t *tokenSource) invalidate(gen uint64) {
	t.mu.Lock()
	if t.gen == gen {
		t.token = ""
	}
	t.mu.Unlock()
}

// EnsureToken obtains (or reuses) the access token; the token itself is
// never returned. Errors are *TokenError for OAuth refusals.
func (c *Client) EnsureToken(ctx context.Context) error {
	_, _, err := c.tokens.get(ctx)
	return err
}

type tokenReply struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	// OAuth error shape
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	// Management API error shape (some proxies and 429s answer with it)
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

// fetchToken runs the client-credentials exchange with retries on network
// errors, 429 and 5xx (asking for a token twice is harmless).
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	body, err := json.Marshal(map[string]string{
		"grant_type":    "client_credentials",
		"client_id":     c.cfg.ClientID,
		"client_secret": c.cfg.ClientSecret,
		"audience":      c.audience,
	})
	if err != nil {
		return "", 0, err
	}
	endpoint := c.base.String() + "/oauth/token"
	bo := c.newBackoff(ctx)
	for attempt := 0; ; attempt++ {
		tok, life, retry, err := c.tokenAttempt(ctx, endpoint, body)
		if err == nil {
			return tok, life, nil
		}
		if !retry || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return "", 0, err
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return "", 0, err
		}
		c.log.Debug("auth0: token request failed, retrying", "attempt", attempt+1, "in", d, "err", err)
		if err := sleepCtx(ctx, d); err != nil {
			return "", 0, err
		}
	}
}

// tokenAttempt is one try of the exchange; retry says whether another try
// may help (network errors, 429 and 5xx).
func (c *Client) tokenAttempt(ctx context.Context, endpoint string, body []byte) (tok string, life time.Duration, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	resp, retry, err := c.postToken(ctx, actx, endpoint, body)
	if err != nil {
		return "", 0, retry, err
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	c.observe("token", resp.StatusCode)
	if rerr != nil {
		return "", 0, true, fmt.Errorf("%w: %w", ErrUnavailable, cleanTransportErr("token", "POST", "/oauth/token", rerr))
	}
	var tr tokenReply
	jerr := json.Unmarshal(raw, &tr)
	if resp.StatusCode == http.StatusOK && jerr == nil && tr.AccessToken != "" {
		return c.acceptToken(tr)
	}
	te := c.tokenRefusal(resp.StatusCode, tr)
	retry = resp.StatusCode == 429 || resp.StatusCode >= 500
	if resp.StatusCode == 429 && !sleepRetryAfter(ctx, resp.Header) {
		return "", 0, false, te
	}
	return "", 0, retry, te
}

// postToken sends the exchange under actx (the attempt's timeout). On a
// transport failure it says whether to retry: not once ctx, the caller's
// context, has ended.
func (c *Client) postToken(ctx, actx context.Context, endpoint string, body []byte) (resp *http.Response, retry bool, err error) {
	req, err := http.NewRequestWithContext(actx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("auth0: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err = c.hc.Do(req)
	if err != nil {
		c.observe("token", 0)
		terr := cleanTransportErr("token", "POST", "/oauth/token", err)
		if ctx.Err() != nil {
			return nil, false, terr
		}
		return nil, true, fmt.Errorf("%w: %w", ErrUnavailable, terr)
	}
	return resp, false, nil
}

// acceptToken checks a 200 reply with an access_token and returns the token
// and its lifetime (tokenAttempt's results).
func (c *Client) acceptToken(tr tokenReply) (string, time.Duration, bool, error) {
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", 0, false, &TokenError{Status: 200, Code: "unsupported_token_type", Description: "token_type " + c.redact(tr.TokenType)}
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour // Auth0 always sends expires_in; be conservative if not
	}
	return tr.AccessToken, life, false, nil
}

// tokenRefusal is the *TokenError for a reply without a usable token: the
// OAuth error if there is one, else the Management API error, else one
// named after the status.
func (c *Client) tokenRefusal(status int, tr tokenReply) *TokenError {
	te := &TokenError{Status: status, Code: tr.Error, Description: tr.ErrorDescription}
	if te.Code == "" {
		te.Code = tr.ErrorCode
		te.Description = tr.Message
	}
	if te.Code == "" {
		if status == http.StatusOK {
			te.Code = "invalid_token_response"
			te.Description = "no access_token in the reply"
		} else {
			te.Code = strings.ToLower(strings.ReplaceAll(httpStatusText(status), " ", "_"))
		}
	}
	te.Code, te.Description = c.redact(te.Code), c.redact(te.Description)
	return te
}

// sleepRetryAfter waits until the time a 429's headers name; false if ctx
// ended first.
func sleepRetryAfter(ctx context.Context, h http.Header) bool {
	at := parseRateInfo(h, time.Now()).retryAt()
	if d := time.Until(at); d > 0 {
		return sleepCtx(ctx, d) == nil
	}
	return true
}

// redact removes the client secret from text that came back from the
// server, in case an endpoint ever echoes it.
func (c *Client) redact(s string) string {
	if c.cfg.ClientSecret != "" && strings.Contains(s, c.cfg.ClientSecret) {
		s = strings.ReplaceAll(s, c.cfg.ClientSecret, "[redacted]")
	}
	return s
}

// sleepCtx waits d; ctx's error when it ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if !tick.Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}
