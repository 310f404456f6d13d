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

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// Default values of Config fields.
const (
	DefaultMaxRetries     = 5
	DefaultUserAgent      = "auth0-worker"
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultMaxResponseBytes bounds one response body and one SSE message:
	// a user may hold 2 × 16 MB of metadata (README "Bad data").
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
}

func newClient(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, limits.Invalid(ErrInvalidConfig, err)
	}
	if err := cfg.check(); err != nil {
		return nil, limits.Invalid(ErrInvalidConfig, err)
	}
	cfg.setDefaults()
	c := &Client{cfg: cfg, base: base}
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
		return nil, limits.Invalid(ErrInvalidConfig, err)
	}
	c.hc = httpClient(cfg.HTTPClient)
	withTracing(c.hc, cfg.TracerProvider)
	c.tokens = &tokenSource{c: c}
	c.gate = newGate()
	if cfg.MaxRPS > 0 {
		c.rps = rate.NewLimiter(rate.Limit(cfg.MaxRPS), max(int(cfg.MaxRPS), 1))
	}
	return c, nil
}

// parseBaseURL checks Config.BaseURL: <scheme>://<host[:port]> and nothing more.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("auth0: Config.BaseURL is required (e.g. https://tenant.eu.auth0.com)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth0: Config.BaseURL %q must be <scheme>://<host[:port]> (e.g. https://tenant.eu.auth0.com)", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("auth0: Config.BaseURL %q must have no path, query or user info (e.g. https://tenant.eu.auth0.com)", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// check refuses a Config missing credentials or holding a negative limit.
func (cfg *Config) check() error {
	switch {
	case cfg.ClientID == "":
		return errors.New("auth0: Config.ClientID is required")
	case cfg.ClientSecret == "":
		return errors.New("auth0: Config.ClientSecret is required")
	}
	return limits.FirstBroken("auth0",
		limits.Bound{Name: "Config.MaxRPS", Value: cfg.MaxRPS, Broken: cfg.MaxRPS < 0, Want: "must be >= 0 (0 = no ceiling)"},
		limits.Bound{Name: "Config.MaxRetries", Value: cfg.MaxRetries, Broken: cfg.MaxRetries < 0, Want: "must be >= 0"},
		limits.Bound{Name: "Config.AttemptTimeout", Value: cfg.AttemptTimeout, Broken: cfg.AttemptTimeout < 0, Want: "must be >= 0"},
		limits.Bound{Name: "Config.MaxResponseBytes", Value: cfg.MaxResponseBytes, Broken: cfg.MaxResponseBytes < 0,
			Want: fmt.Sprintf("must be >= 0 (0 = %d)", DefaultMaxResponseBytes)})
}

// setDefaults fills the zero values that have a default (Config's field comments).
func (cfg *Config) setDefaults() {
	limits.Fill(&cfg.MaxRetries, DefaultMaxRetries)
	limits.Fill(&cfg.AttemptTimeout, DefaultAttemptTimeout)
	limits.Fill(&cfg.UserAgent, DefaultUserAgent)
	limits.Fill(&cfg.MaxResponseBytes, DefaultMaxResponseBytes)
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
