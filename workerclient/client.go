package workerclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of the worker's contract (README "Commands").
const (
	HeaderIdempotencyKey   = "Idempotency-Key"
	HeaderErrorCode        = "Nats-Service-Error-Code"
	HeaderError            = "Nats-Service-Error"
	HeaderOutcomeTruncated = "Auth0-Outcome-Truncated"
)

// Client sends commands to auth0-worker over one NATS connection. It is
// safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	prefix  string
	timeout time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithSubjectPrefix sets the worker's NATS_SUBJECT_PREFIX. Default "auth0".
func WithSubjectPrefix(prefix string) Option {
	return func(c *Client) error {
		if prefix == "" || strings.ContainsAny(prefix, " \t\r\n*>") || strings.HasPrefix(prefix, ".") || strings.HasSuffix(prefix, ".") {
			return fmt.Errorf("workerclient: subject prefix %q is not a NATS subject (like auth0 or auth0.tenant-a)", prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// DefaultTimeout is the worker's default COMMAND_TIMEOUT plus a margin, so
// the worker's own 504 arrives before the client gives up (a test keeps it
// above that default).
const DefaultTimeout = 35 * time.Second

// WithTimeout bounds a request-reply command when its context has no
// deadline. Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("workerclient: timeout %v must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// New returns a Client on nc.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, errors.New("workerclient: nil NATS connection")
	}
	c := &Client{nc: nc, prefix: "auth0", timeout: DefaultTimeout}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("workerclient: jetstream: %w", err)
	}
	c.js = js
	return c, nil
}

// CallOption changes one command.
type CallOption func(*callOptions)

type callOptions struct{ idemKey string }

// WithIdempotencyKey executes the request-reply command at most once per key
// for 24h ([A-Za-z0-9_-]{1,128}): a repeat with the same body gets the stored
// outcome; the same key with another command or body fails with
// ErrIdempotencyKeyReused.
func WithIdempotencyKey(key string) CallOption {
	return func(o *callOptions) { o.idemKey = key }
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// reply is a successful reply: body and whether the worker cut it.
type reply struct {
	body      []byte
	truncated bool
}

// request sends one request-reply command and returns its success body or
// its *Error.
func (c *Client) request(ctx context.Context, command string, req any, opts []CallOption) (reply, error) {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	if o.idemKey != "" && !idPattern.MatchString(o.idemKey) {
		return reply{}, fmt.Errorf("workerclient: idempotency key %q must match [A-Za-z0-9_-]{1,128}", o.idemKey)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return reply{}, fmt.Errorf("workerclient: %s: encode request: %w", command, err)
	}
	m := nats.NewMsg(c.prefix + ".svc." + command)
	m.Data = body
	if o.idemKey != "" {
		m.Header.Set(HeaderIdempotencyKey, o.idemKey)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return reply{}, fmt.Errorf("workerclient: %s: %w", command, err)
	}
	return parseReply(resp.Header, resp.Data)
}

// parseReply reads a reply or a durable outcome: an error when the error
// headers are set, else the body.
func parseReply(h nats.Header, data []byte) (reply, error) {
	if code := h.Get(HeaderErrorCode); code != "" {
		status, err := strconv.Atoi(code)
		if err != nil {
			return reply{}, fmt.Errorf("workerclient: bad %s header %q", HeaderErrorCode, code)
		}
		return reply{}, decodeError(status, h.Get(HeaderError), data)
	}
	return reply{body: data, truncated: h.Get(HeaderOutcomeTruncated) == "true"}, nil
}

func decodeInto(command string, r reply, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("workerclient: %s: decode reply: %w", command, err)
	}
	return nil
}

// cuttable is a reply of a change whose body the worker may cut to fit
// (header Auth0-Outcome-Truncated).
type cuttable interface{ markTruncated() }

func (u *User) markTruncated()        { u.Truncated = true }
func (r *APIResponse) markTruncated() { r.Truncated = true }

// decodeChange decodes the reply of a change into a new T, marked
// truncated when the worker said it cut the body; what names the reply in
// an error.
func decodeChange[T any, P interface {
	*T
	cuttable
}](body []byte, truncated bool, what string) (*T, error) {
	p := P(new(T))
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("workerclient: %s: %w", what, err)
	}
	if truncated {
		p.markTruncated()
	}
	return p, nil
}
