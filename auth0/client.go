package auth0

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Default values of Config fields.
const (
	DefaultMaxRetries     = 5
	DefaultUserAgent      = "auth0-worker"
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultMaxResponseBytes bounds one response body and one SSE message:
	// a user may hold 2 × 16 MB of metadata (DESIGN.md §4b).
	DefaultMaxResponseBytes = 40 << 20
)

// Client is a Management API client. Safe for concurrent use: every
// goroutine shares one token and one rate budget.
type Client struct {
	cfg      Config
	base     *url.URL // scheme://host[:port]
	audience string
	hc       *http.Client
	log      *slog.Logger
	tokens   *tokenSource
	gate     *gate
	rps      *rate.Limiter // nil without MaxRPS
	allow    []allowRule
	now      func() time.Time
}

func newClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("auth0: Config.BaseURL is required (e.g. https://tenant.eu.auth0.com)")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth0: Config.BaseURL %q must be <scheme>://<host[:port]> (e.g. https://tenant.eu.auth0.com)", cfg.BaseURL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("auth0: Config.BaseURL %q must have no path, query or user info (e.g. https://tenant.eu.auth0.com)", cfg.BaseURL)
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	if cfg.ClientID == "" {
		return nil, errors.New("auth0: Config.ClientID is required")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("auth0: Config.ClientSecret is required")
	}
	if cfg.MaxRPS < 0 {
		return nil, fmt.Errorf("auth0: Config.MaxRPS %v must be >= 0 (0 = no ceiling)", cfg.MaxRPS)
	}
	if cfg.MaxRetries < 0 {
		return nil, fmt.Errorf("auth0: Config.MaxRetries %d must be >= 0", cfg.MaxRetries)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.AttemptTimeout < 0 {
		return nil, fmt.Errorf("auth0: Config.AttemptTimeout %v must be >= 0", cfg.AttemptTimeout)
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("auth0: Config.MaxResponseBytes %d must be >= 0 (0 = %d)", cfg.MaxResponseBytes, DefaultMaxResponseBytes)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	c := &Client{cfg: cfg, base: base, now: time.Now}
	c.audience = cfg.Audience
	if c.audience == "" {
		c.audience = base.String() + "/api/v2/"
	}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.allow, err = parseAllowRules(cfg.APICallAllow)
	if err != nil {
		return nil, err
	}
	c.hc = httpClient(cfg.HTTPClient)
	c.tokens = &tokenSource{c: c}
	c.gate = newGate(c.now)
	if cfg.MaxRPS > 0 {
		burst := int(cfg.MaxRPS)
		if burst < 1 {
			burst = 1
		}
		c.rps = rate.NewLimiter(rate.Limit(cfg.MaxRPS), burst)
	}
	return c, nil
}

// httpClient returns the client used for every request. It never follows
// redirects: a redirect could carry the bearer token to another host, and
// the Management API does not redirect.
func httpClient(given *http.Client) *http.Client {
	var hc http.Client
	if given != nil {
		hc = *given
	} else {
		hc.Transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// BaseURL is the tenant's base URL (<scheme>://<host[:port]>).
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) observe(op string, status int) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.Request(op, status)
	}
}

// apiURL builds base + "/api/v2" + rel, where rel is an already escaped path.
func (c *Client) apiURL(escapedRel string, q url.Values) (*url.URL, error) {
	u := *c.base
	raw := "/api/v2" + escapedRel
	p, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: bad path escaping: %v", ErrInvalidRequest, err)
	}
	u.Path, u.RawPath = p, raw
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return &u, nil
}

// escapeID percent-encodes a path segment; '|' becomes %7C as Auth0 expects.
func escapeID(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), "|", "%7C")
}
