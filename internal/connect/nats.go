// Package connect opens the worker's connections to NATS and Redis with the
// authentication, TLS and topology options of README "Configuration" and "Scale-out". Errors it
// returns name the variable or the server, never a password, token or seed.
package connect

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// ErrInvalidOptions wraps every validation error of NATSOptions and
// RedisOptions (a configuration problem, not a connection one).
var ErrInvalidOptions = errors.New("invalid connection options")

// NATSOptions configure NATS. The *_FILE forms of the variables are already
// resolved: Password and Token hold the secret values.
type NATSOptions struct {
	// URL is NATS_URL: a comma-separated server list. Default
	// "nats://127.0.0.1:4222". Credentials inside the URL work but are
	// stripped from every error and log line.
	URL string
	// CredsFile is NATS_CREDS, a .creds file (JWT + seed). Default none.
	CredsFile string
	// NKeySeedFile is NATS_NKEY_SEED_FILE. Default none.
	NKeySeedFile string
	// User and Password are NATS_USER and NATS_PASSWORD; both or neither.
	User, Password string
	// Token is NATS_TOKEN. Default none.
	Token string
	// TLSCA is NATS_TLS_CA, a PEM file of CAs to trust instead of the system
	// pool; setting it requires TLS. Default none (system pool when the
	// server asks for TLS or the URL is tls://).
	TLSCA string
	// TLSCert and TLSKey are NATS_TLS_CERT and NATS_TLS_KEY, a client
	// certificate for mutual TLS; both or neither. Default none.
	TLSCert, TLSKey string
	// ConnectTimeout bounds the dial + handshake to one server. Default
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts to one server
	// (with jitter added by nats.go). Default DefaultReconnectWait.
	// Reconnects never stop.
	ReconnectWait time.Duration
	// DrainTimeout bounds nc.Drain at shutdown. Default
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// RetryOnFailedConnect makes the first connect keep trying in the
	// background instead of failing (the conn starts RECONNECTING). Default
	// false: an unreachable or refusing server at start is an error, which is
	// what `check` and a supervised process want.
	RetryOnFailedConnect bool
}

func (o NATSOptions) servers() []string {
	u := o.URL
	if strings.TrimSpace(u) == "" {
		u = nats.DefaultURL
	}
	var out []string
	for _, s := range strings.Split(u, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// RedactedURL returns the server list with any user info removed, for
// errors and logs.
func (o NATSOptions) RedactedURL() string {
	srv := o.servers()
	for i, s := range srv {
		srv[i] = redactURL(s)
	}
	return strings.Join(srv, ",")
}

// redactURL drops user info from a URL; a string that does not parse is
// reduced to what follows its last "@".
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "[redacted]@" + s[i+1:]
		}
		return s
	}
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	return strings.Replace(u.String(), "://", "://[redacted]@", 1)
}

func (o NATSOptions) validate() error {
	var auth []string
	if o.CredsFile != "" {
		auth = append(auth, "NATS_CREDS")
	}
	if o.NKeySeedFile != "" {
		auth = append(auth, "NATS_NKEY_SEED_FILE")
	}
	if o.User != "" || o.Password != "" {
		if o.User == "" || o.Password == "" {
			return fmt.Errorf("%w: NATS_USER and NATS_PASSWORD must be set together", ErrInvalidOptions)
		}
		auth = append(auth, "NATS_USER/NATS_PASSWORD")
	}
	if o.Token != "" {
		auth = append(auth, "NATS_TOKEN")
	}
	if len(auth) > 1 {
		return fmt.Errorf("%w: NATS auth: set only one of %s", ErrInvalidOptions, strings.Join(auth, ", "))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return fmt.Errorf("%w: NATS_TLS_CERT and NATS_TLS_KEY must be set together", ErrInvalidOptions)
	}
	for _, s := range o.servers() {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			// nats.go also accepts bare host:port.
			if strings.Contains(s, "://") {
				return fmt.Errorf("%w: NATS_URL: %q is not a URL (example: nats://127.0.0.1:4222)", ErrInvalidOptions, redactURL(s))
			}
			continue
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%w: NATS_URL: scheme %q not supported (use nats://, tls://, ws:// or wss://)", ErrInvalidOptions, u.Scheme)
		}
	}
	return nil
}

// tlsConfig builds the client TLS config, or nil when no TLS file is set.
func (o NATSOptions) tlsConfig() (*tls.Config, error) {
	if o.TLSCA == "" && o.TLSCert == "" {
		return nil, nil
	}
	return tlsConfig("NATS_TLS", o.TLSCA, o.TLSCert, o.TLSKey, "")
}

// NATSOpts returns the nats.Options for opts (validated), for callers that
// need to add their own before connecting. name is the connection name shown
// by the server (e.g. "auth0-worker"); log receives connection events.
func NATSOpts(opts NATSOptions, name string, log *slog.Logger) ([]nats.Option, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	no := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(limits.OrPositive(opts.ReconnectWait, DefaultReconnectWait)),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.Timeout(limits.OrPositive(opts.ConnectTimeout, DefaultConnectTimeout)),
		nats.DrainTimeout(limits.OrPositive(opts.DrainTimeout, DefaultDrainTimeout)),
		// Notice a dead server in ~1 min rather than nats.go's default ~4.
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
	}
	no = append(no, eventLogging(log.With("component", "nats"))...)
	if opts.RetryOnFailedConnect {
		no = append(no, nats.RetryOnFailedConnect(true))
	}
	auth, err := opts.authOption()
	if err != nil {
		return nil, err
	}
	if auth != nil {
		no = append(no, auth)
	}
	tc, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		no = append(no, nats.Secure(tc))
	}
	return no, nil
}

// eventLogging returns the handlers that log the connection's events
// (connects, disconnects, reconnects, closing, async errors, lame duck) on
// log.
func eventLogging(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else if !nc.IsClosed() && !nc.IsDraining() {
				log.Warn("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("nats reconnect attempt failed", "err", err)
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			// nats.go calls this for the first connection (also when
			// RetryOnFailedConnect made it a late one).
			log.Info("nats connected", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Warn("nats connection closed", "err", err)
				return
			}
			log.Debug("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats async error", "subject", sub.Subject, "err", err)
				return
			}
			log.Error("nats async error", "err", err)
		}),
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			log.Info("nats server entering lame duck mode; will move to another server", "server", nc.ConnectedServerName())
		}),
	}
}

// authOption returns the option of the one authentication method set
// (validate allows at most one), or nil when none is. A missing creds file or
// an unusable seed file is an error here, before any connect.
func (o NATSOptions) authOption() (nats.Option, error) {
	switch {
	case o.CredsFile != "":
		if _, err := os.Stat(o.CredsFile); err != nil {
			return nil, fmt.Errorf("%w: NATS_CREDS: %w", ErrInvalidOptions, err)
		}
		return nats.UserCredentials(o.CredsFile), nil
	case o.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS_NKEY_SEED_FILE %s: %w", ErrInvalidOptions, o.NKeySeedFile, err)
		}
		return opt, nil
	case o.User != "":
		return nats.UserInfo(o.User, o.Password), nil
	case o.Token != "":
		return nats.Token(o.Token), nil
	}
	return nil, nil
}

// NATS connects to opts' servers. The connection reconnects forever (every
// ReconnectWait plus jitter) and logs disconnects, reconnects and async
// errors on log. The first connect fails fast unless RetryOnFailedConnect.
// The error names the servers (without credentials) and the cause, e.g.
// "nats: connect to nats://127.0.0.1:4222: nats: Authorization Violation".
func NATS(opts NATSOptions, name string, log *slog.Logger) (*nats.Conn, error) {
	no, err := NATSOpts(opts, name, log)
	if err != nil {
		return nil, err
	}
	srv := opts.servers()
	nc, err := nats.Connect(strings.Join(srv, ","), no...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			// nats.go drops the dial errors; find out why the first server
			// is unreachable so the message says it.
			if why := dialProbe(srv[0], limits.OrPositive(opts.ConnectTimeout, DefaultConnectTimeout)); why != nil {
				err = fmt.Errorf("%w (%v)", err, why)
			}
		}
		return nil, fmt.Errorf("nats: connect to %s: %w%s", opts.RedactedURL(), scrub(err, opts.Password, opts.Token), authHint(err, opts))
	}
	return nc, nil
}

// authHint says which setting an authorization violation is about: the
// server gives no reason (a revoked, expired or unknown user, or an account
// it does not trust, all read the same).
func authHint(err error, opts NATSOptions) string {
	if !errors.Is(err, nats.ErrAuthorization) {
		return ""
	}
	switch {
	case opts.CredsFile != "":
		return " (the user of NATS_CREDS " + opts.CredsFile + " is unknown to the server, revoked or expired, or its account is not trusted)"
	case opts.NKeySeedFile != "":
		return " (the nkey of NATS_NKEY_SEED_FILE is not a user of the server)"
	}
	return ""
}

// dialProbe dials the server's host:port and returns the TCP error, if any.
func dialProbe(server string, timeout time.Duration) error {
	hostport := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		hostport = u.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(hostport, "4222")
	}
	c, err := net.DialTimeout("tcp", hostport, timeout)
	if err != nil {
		return err
	}
	_ = c.Close()
	return nil
}

// scrub guards against a library error that quotes a secret: if one does,
// the message is replaced (the error chain is kept for errors.Is).
func scrub(err error, secrets ...string) error {
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// Defaults of NATSOptions and RedisOptions fields left zero.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReconnectWait  = time.Second
	// DefaultDrainTimeout lets a drain fit in the 10 s exit budget (README
	// "Operations").
	DefaultDrainTimeout = 5 * time.Second
	DefaultRedisAddr    = "127.0.0.1:6379"
	DefaultDialTimeout  = 5 * time.Second
	DefaultClientName   = "auth0-worker"
)
