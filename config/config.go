// Package config loads and validates the worker's configuration (README "Configuration")
// from the environment, with command-line flags of the same meaning able to
// override it. Every variable has a flag derived mechanically from its name:
// lower case, "_" → "-" (NATS_URL → --nats-url, AUTH0_CLIENT_SECRET_FILE →
// --auth0-client-secret-file).
//
// Rules shared by every variable:
//   - An empty value counts as unset (the default applies; a required variable
//     reports "is empty").
//   - X_FILE forms are read and trimmed of surrounding whitespace; setting both
//     X and X_FILE is an error. A flag for either form replaces both
//     environment forms.
//   - The first bad value is returned as a *Error whose message is one line
//     naming the variable, the problem and a good example; secrets are never
//     quoted.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// Secret is a string that does not print itself: fmt verbs, slog and JSON
// show "[redacted]" (or "" when empty). Use Reveal (or string(s)) at the one
// place the value is needed.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Need says which requirements of a subcommand apply.
type Need uint8

const (
	// NeedAuth0 makes AUTH0_DOMAIN, AUTH0_CLIENT_ID and the client secret
	// required (run, poll, serve, check). dev and version need nothing.
	NeedAuth0 Need = 1 << iota
)

// NeedFor returns the requirements of a subcommand (README "Quick start").
func NeedFor(subcommand string) Need {
	switch subcommand {
	case "run", "poll", "serve", "check", "":
		return NeedAuth0
	}
	return 0
}

// PollSource is POLL_SOURCE.
type PollSource string

// The poll sources (README "The event").
const (
	SourceEvents PollSource = "events"
	SourceSearch PollSource = "search"
	SourceAuto   PollSource = "auto"
)

// PollSources are the POLL_SOURCE values: the poller's selectable sources
// (config does not import the poller; cmd's TestPollSourcesAreThePollers
// keeps the two lists equal).
func PollSources() []PollSource { return []PollSource{SourceEvents, SourceSearch, SourceAuto} }

// APIRule is one AUTH0_API_CALL_ALLOW rule: an exact upper-case method and a
// path glob where "*" matches any characters including "/" (README "Security").
type APIRule struct {
	Method string
	Path   string
}

func (r APIRule) String() string { return r.Method + " " + r.Path }

// Config is the validated configuration. Derived values are computed once by
// Load. Fields holding credentials are Secret; NATS.URL and Redis.URL may
// carry credentials inside the URL: log Config.String(), never those fields.
type Config struct {
	Auth0   Auth0
	NATS    NATS
	Events  Events
	Redis   Redis
	Poll    Poll
	Command Command
	Webhook Webhook
	// HTTPAddr is HTTP_ADDR, host:port of /healthz, /readyz, /metrics.
	// Default in Vars.
	HTTPAddr string
	// LogLevel is LOG_LEVEL (debug, info, warn, error). Default in Vars.
	LogLevel slog.Level
	// LogFormat is LOG_FORMAT: "auto" (tint text on a terminal, JSON
	// otherwise), "text" or "json". Default in Vars.
	LogFormat string
	// NoColor is true when NO_COLOR is set to anything non-empty
	// (https://no-color.org); LOG_FORMAT=auto/text then writes no colours.
	NoColor bool
	// Args are the positional arguments left after the flags.
	Args []string
}

// Auth0 is the tenant side.
type Auth0 struct {
	// Domain is AUTH0_DOMAIN as given: "tenant.eu.auth0.com" or a URL.
	// Required for run/poll/serve/check; empty otherwise allowed.
	Domain string
	// BaseURL is derived: <scheme>://<host[:port]>, no path; a bare domain
	// means https. http is only accepted for loopback hosts.
	BaseURL string
	// TenantKey is derived: host[:port] of BaseURL (the T of Redis keys).
	TenantKey string
	// ClientID is AUTH0_CLIENT_ID (required with NeedAuth0).
	ClientID string
	// ClientSecret is AUTH0_CLIENT_SECRET or the trimmed content of
	// AUTH0_CLIENT_SECRET_FILE (exactly one, required with NeedAuth0).
	ClientSecret Secret
	// Audience is AUTH0_AUDIENCE. Default BaseURL + "/api/v2/".
	Audience string
	// MaxRPS is AUTH0_MAX_RPS, a client-side ceiling on requests per second;
	// 0 = follow Auth0's rate-limit headers only. Default in Vars.
	MaxRPS float64
	// APICallAllow is AUTH0_API_CALL_ALLOW parsed. Default empty = api.call
	// disabled.
	APICallAllow []APIRule
}

// APICallAllowStrings returns the rules as "METHOD /glob" strings, the form
// auth0.Config.APICallAllow takes.
func (a Auth0) APICallAllowStrings() []string {
	out := make([]string, len(a.APICallAllow))
	for i, r := range a.APICallAllow {
		out[i] = r.String()
	}
	return out
}

// NATS is the bus connection and stream settings.
type NATS struct {
	// URL is NATS_URL, a comma-separated server list as nats.Connect takes
	// it. Default in Vars. May carry user:password; do not log.
	URL string
	// Servers is URL split on commas.
	Servers []string
	// Creds is NATS_CREDS, the path of a .creds file. Default none.
	Creds string
	// NKeySeedFile is NATS_NKEY_SEED_FILE, the path of an nkey seed. Default none.
	NKeySeedFile string
	// User and Password are NATS_USER and NATS_PASSWORD(_FILE); both or
	// neither. Default none.
	User     string
	Password Secret
	// Token is NATS_TOKEN(_FILE). Default none.
	Token Secret
	// TLSCA, TLSCert, TLSKey are NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY
	// (file paths; cert and key together). Default none.
	TLSCA, TLSCert, TLSKey string
	// SubjectPrefix is NATS_SUBJECT_PREFIX. Default in Vars.
	SubjectPrefix string
	// StreamReplicas is NATS_STREAM_REPLICAS, 1..5. Default in Vars.
	StreamReplicas int
}

// Events is the shape of the published events.
type Events struct {
	// MaxAge is EVENTS_MAX_AGE, retention of the users stream. Default
	// limits.EventsMaxAge.
	MaxAge time.Duration
	// Fields is EVENT_FIELDS: the top-level user fields put in `data`.
	// Default nil = all fields. user_id and created_at are always kept by the
	// publisher whether listed or not.
	Fields []string
	// Source is derived: the CloudEvents `source`, BaseURL + "/".
	Source string
	// Types is EVENT_TYPES: the user events published, each one of
	// "user.created", "user.updated", "user.deleted", in that order, no
	// repeats. Default in Vars.
	Types []string
}

// Wants reports whether EVENT_TYPES holds typ ("user.updated", ...).
func (e Events) Wants(typ string) bool {
	for _, t := range e.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// Webhook is the Auth0 Event Streams receiver (README "User life cycle").
type Webhook struct {
	// Addr is WEBHOOK_ADDR, host:port; "" = no receiver (the default).
	Addr string
	// BearerToken is WEBHOOK_BEARER_TOKEN(_FILE). Exactly one of it and
	// BasicUser+BasicPassword is set when Addr is. Never logged.
	BearerToken Secret
	// BasicUser and BasicPassword are WEBHOOK_BASIC_USER and
	// WEBHOOK_BASIC_PASSWORD(_FILE). The password is never logged.
	BasicUser     string
	BasicPassword Secret
	// TLSCert and TLSKey are WEBHOOK_TLS_CERT and WEBHOOK_TLS_KEY (file
	// paths, together). Default none: plain HTTP.
	TLSCert, TLSKey string
}

// RedisMode says how Redis is reached.
type RedisMode string

// The Redis topologies (README "Scale-out").
const (
	RedisSingle   RedisMode = "single"
	RedisSentinel RedisMode = "sentinel"
	RedisCluster  RedisMode = "cluster"
)

// Redis is the dedupe/lease/cursor store: REDIS_URL parsed once into these
// typed fields, the REDIS_* variables merged in (README "Scale-out").
type Redis struct {
	// Mode is derived from which variables are set. Default single.
	Mode RedisMode
	// URL is REDIS_URL with any password replaced by "xxxxx", for logs only.
	// Default in Vars.
	URL string
	// Addr is the single node's host:port from REDIS_URL (port default
	// 6379). Empty with Sentinel and Cluster.
	Addr string
	// SentinelAddrs and SentinelMaster are REDIS_SENTINEL_ADDRS (host:port
	// list) and REDIS_SENTINEL_MASTER. Default none.
	SentinelAddrs  []string
	SentinelMaster string
	// ClusterAddrs is REDIS_CLUSTER_ADDRS (host:port list). Default none.
	ClusterAddrs []string
	// Username is the ACL user of REDIS_URL or REDIS_USERNAME (not both).
	// Default none (the default user).
	Username string
	// Password is the password of REDIS_URL or REDIS_PASSWORD(_FILE) (not
	// both). Default none.
	Password Secret
	// DB is the database of REDIS_URL's path or REDIS_DB (not both); always
	// 0 with Cluster. Default in Vars.
	DB int
	// TLS is REDIS_TLS*; rediss:// turns it on.
	TLS RedisTLS
	// SentinelUsername and SentinelPassword are REDIS_SENTINEL_USERNAME and
	// REDIS_SENTINEL_PASSWORD(_FILE), for sentinels that require auth;
	// Sentinel mode only. Default none.
	SentinelUsername string
	SentinelPassword Secret
	// KeyPrefix is REDIS_KEY_PREFIX. Default limits.KeyPrefix.
	KeyPrefix string
}

// RedisTLS is TLS to every Redis node (and the sentinels).
type RedisTLS struct {
	// Enabled is REDIS_TLS, or a rediss:// REDIS_URL. Default in Vars.
	Enabled bool
	// CA, Cert, Key are REDIS_TLS_CA, REDIS_TLS_CERT, REDIS_TLS_KEY (file
	// paths, readable at load; cert and key together). Default none: the
	// system roots, no client certificate.
	CA, Cert, Key string
	// ServerName is REDIS_TLS_SERVER_NAME. Default none: each node's host.
	ServerName string
}

// Poll is the trigger side.
type Poll struct {
	// Source is POLL_SOURCE as configured (default in Vars). Use
	// EffectiveSource for what runs.
	Source PollSource
	// Query is POLL_QUERY, an extra Lucene filter. Default empty.
	Query string
	// Limit is POLL_LIMIT, max users published per cycle, ≥
	// limits.MinPollLimit. Default limits.PollLimit.
	Limit int
	// Interval is POLL_INTERVAL, the search-source cycle, > 0. Default
	// limits.PollInterval.
	Interval time.Duration
	// Overlap is POLL_OVERLAP, how far behind the cursor a search re-reads,
	// ≥ 0. Default limits.PollOverlap.
	Overlap time.Duration
	// Start is POLL_START. Default in Vars.
	Start pollstart.Start
	// ReconcileInterval is RECONCILE_INTERVAL, ≥ 0; 0 = off. Default
	// limits.ReconcileInterval.
	ReconcileInterval time.Duration
	// DedupeTTL is DEDUPE_TTL, ≥ limits.MinDedupeTTL (Redis EX is in
	// seconds). Default limits.DedupeTTL.
	DedupeTTL time.Duration
	// LeaseTTL is LEASE_TTL, ≥ limits.MinLeaseTTL. Default limits.LeaseTTL.
	LeaseTTL time.Duration
}

// EffectiveSource is the source that runs: auto with a POLL_QUERY selects
// search (the Events API cannot filter by Lucene).
func (p Poll) EffectiveSource() PollSource {
	if p.Source == SourceAuto && p.Query != "" {
		return SourceSearch
	}
	return p.Source
}

// Command is the consumer side.
type Command struct {
	// Concurrency is COMMAND_CONCURRENCY, ≥ 1. Default
	// limits.CommandConcurrency.
	Concurrency int
	// Timeout is COMMAND_TIMEOUT, > 0. Default limits.CommandTimeout.
	Timeout time.Duration
	// MaxDeliver is COMMAND_MAX_DELIVER, ≥ 1. Default limits.CommandMaxDeliver.
	MaxDeliver int
	// DLQMaxAge is DLQ_MAX_AGE, retention of the dead-letter stream (it may
	// hold personal data), ≥ 1s. Default limits.DLQMaxAge.
	DLQMaxAge time.Duration
}

// String is one line for a startup log: every setting, secrets shown as
// "[redacted]" and credentials inside URLs removed.
func (c *Config) String() string {
	var l logLine
	c.logAuth0(&l)
	c.logNATS(&l)
	c.logRedis(&l)
	c.logPoll(&l)
	l.add("command_concurrency", fmt.Sprint(c.Command.Concurrency))
	l.add("command_timeout", c.Command.Timeout.String())
	l.add("command_max_deliver", fmt.Sprint(c.Command.MaxDeliver))
	l.add("http_addr", c.HTTPAddr)
	l.add("log_level", c.LogLevel.String())
	l.add("log_format", c.LogFormat)
	return l.b.String()
}

// logLine builds String's space-separated key=value line.
type logLine struct{ b strings.Builder }

// add appends k=v, quoting v when it is empty or has a space or a quote, so
// the line still splits into its pairs.
func (l *logLine) add(k, v string) {
	if l.b.Len() > 0 {
		l.b.WriteByte(' ')
	}
	l.b.WriteString(k)
	l.b.WriteByte('=')
	if v == "" || strings.ContainsAny(v, " \"") {
		v = fmt.Sprintf("%q", v)
	}
	l.b.WriteString(v)
}

func (c *Config) logAuth0(l *logLine) {
	l.add("base_url", c.Auth0.BaseURL)
	l.add("client_id", c.Auth0.ClientID)
	l.add("client_secret", setOrNot(string(c.Auth0.ClientSecret)))
	l.add("audience", c.Auth0.Audience)
	l.add("max_rps", fmt.Sprint(c.Auth0.MaxRPS))
	l.add("api_call_allow", strings.Join(c.Auth0.APICallAllowStrings(), ","))
}

// logNATS adds the NATS connection and its streams.
func (c *Config) logNATS(l *logLine) {
	l.add("nats_url", redactURLList(c.NATS.URL))
	l.add("nats_auth", c.NATS.authKind())
	l.add("nats_tls", fmt.Sprint(c.NATS.TLSCA != "" || c.NATS.TLSCert != ""))
	l.add("subject_prefix", c.NATS.SubjectPrefix)
	l.add("stream_replicas", fmt.Sprint(c.NATS.StreamReplicas))
	l.add("events_max_age", c.Events.MaxAge.String())
	l.add("dlq_max_age", c.Command.DLQMaxAge.String())
	l.add("event_fields", strings.Join(c.Events.Fields, ","))
}

// logRedis adds the Redis settings; the addresses shown are those of the
// mode.
func (c *Config) logRedis(l *logLine) {
	l.add("redis_mode", string(c.Redis.Mode))
	switch c.Redis.Mode {
	case RedisSentinel:
		l.add("redis_sentinel", strings.Join(c.Redis.SentinelAddrs, ","))
		l.add("redis_master", c.Redis.SentinelMaster)
	case RedisCluster:
		l.add("redis_cluster", strings.Join(c.Redis.ClusterAddrs, ","))
	default:
		l.add("redis_url", c.Redis.URL)
	}
	l.add("redis_user", c.Redis.Username)
	l.add("redis_password", setOrNot(string(c.Redis.Password)))
	l.add("redis_db", fmt.Sprint(c.Redis.DB))
	l.add("redis_tls", fmt.Sprint(c.Redis.TLS.Enabled))
	if c.Redis.Mode == RedisSentinel {
		l.add("redis_sentinel_user", c.Redis.SentinelUsername)
		l.add("redis_sentinel_password", setOrNot(string(c.Redis.SentinelPassword)))
	}
	l.add("redis_key_prefix", c.Redis.KeyPrefix)
}

func (c *Config) logPoll(l *logLine) {
	l.add("poll_source", string(c.Poll.Source))
	l.add("poll_effective_source", string(c.Poll.EffectiveSource()))
	l.add("poll_query", c.Poll.Query)
	l.add("poll_limit", fmt.Sprint(c.Poll.Limit))
	l.add("poll_interval", c.Poll.Interval.String())
	l.add("poll_overlap", c.Poll.Overlap.String())
	l.add("poll_start", c.Poll.Start.String())
	l.add("reconcile_interval", c.Poll.ReconcileInterval.String())
	l.add("dedupe_ttl", c.Poll.DedupeTTL.String())
	l.add("lease_ttl", c.Poll.LeaseTTL.String())
}

func setOrNot(s string) string {
	if s == "" {
		return "unset"
	}
	return "[redacted]"
}

func (n NATS) authKind() string {
	switch {
	case n.Creds != "":
		return "creds"
	case n.NKeySeedFile != "":
		return "nkey"
	case n.User != "":
		return "user"
	case n.Token != "":
		return "token"
	}
	return "none"
}

// redactURL drops the password of a URL (and the whole URL if it does not
// parse, since it might be a password pasted in the wrong place).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable]"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else { // nats://<token>@host: a lone user part may be a token
			u.User = url.User("xxxxx")
		}
	}
	return u.String()
}

func redactURLList(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}
