package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// Var describes one configuration variable (README "Configuration").
type Var struct {
	Name    string // environment variable, e.g. "NATS_URL"
	Default string // "" = none
	Help    string
	Example string // a good value, used in error messages
	Secret  bool   // never echoed
	HasFile bool   // a Name+"_FILE" form exists
}

// Flag is the flag of the variable: lower case, "_" → "-", with "--".
func (v Var) Flag() string { return FlagName(v.Name) }

// FlagName derives a flag from a variable name: NATS_URL → --nats-url.
func FlagName(name string) string {
	return "--" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// Vars lists every variable Load reads, in the order it validates them.
var Vars = []Var{
	{Name: "AUTH0_DOMAIN", Help: "tenant domain or URL (http:// only for loopback); required for run/poll/serve/check", Example: "tenant.eu.auth0.com"},
	{Name: "AUTH0_CLIENT_ID", Help: "Machine-to-Machine application client id; required for run/poll/serve/check", Example: "Xo1dVz6bUqzqYg4fBxWzY6dA0Hn8rVbR"},
	{Name: "AUTH0_CLIENT_SECRET", Help: "its client secret (or AUTH0_CLIENT_SECRET_FILE); required for run/poll/serve/check", Example: "<the application's client secret>", Secret: true, HasFile: true},
	{Name: "AUTH0_AUDIENCE", Default: "<base URL>/api/v2/", Help: "token audience", Example: "https://tenant.eu.auth0.com/api/v2/"},
	{Name: "AUTH0_MAX_RPS", Default: "0", Help: "client-side ceiling on Auth0 requests per second; 0 = follow Auth0's headers only", Example: "10"},
	{Name: "AUTH0_API_CALL_ALLOW", Help: "api.call allowlist, comma-separated \"METHOD /path-glob\" rules; empty = api.call disabled", Example: "GET /users*,GET /logs*"},
	{Name: "NATS_URL", Default: "nats://127.0.0.1:4222", Help: "comma-separated NATS server list", Example: "nats://nats-1:4222,nats://nats-2:4222"},
	{Name: "NATS_CREDS", Help: "path of a NATS .creds file", Example: "/etc/auth0-worker/worker.creds"},
	{Name: "NATS_NKEY_SEED_FILE", Help: "path of a NATS nkey seed file", Example: "/etc/auth0-worker/worker.nk"},
	{Name: "NATS_USER", Help: "NATS user (with NATS_PASSWORD)", Example: "auth0-worker"},
	{Name: "NATS_PASSWORD", Help: "NATS password (or NATS_PASSWORD_FILE)", Example: "<the NATS user's password>", Secret: true, HasFile: true},
	{Name: "NATS_TOKEN", Help: "NATS token (or NATS_TOKEN_FILE)", Example: "<the NATS token>", Secret: true, HasFile: true},
	{Name: "NATS_TLS_CA", Help: "CA certificate file for TLS to NATS", Example: "/etc/auth0-worker/nats-ca.pem"},
	{Name: "NATS_TLS_CERT", Help: "client certificate file for TLS to NATS (with NATS_TLS_KEY)", Example: "/etc/auth0-worker/nats-client.pem"},
	{Name: "NATS_TLS_KEY", Help: "client key file for TLS to NATS (with NATS_TLS_CERT)", Example: "/etc/auth0-worker/nats-client-key.pem"},
	{Name: "NATS_SUBJECT_PREFIX", Default: "auth0", Help: "first token(s) of every subject", Example: "auth0.tenant-a"},
	{Name: "NATS_STREAM_REPLICAS", Default: "1", Help: "replicas of the streams the worker creates (1..5)", Example: "3"},
	{Name: "EVENTS_MAX_AGE", Default: limits.Text(limits.EventsMaxAge), Help: "retention of the users stream", Example: "720h"},
	{Name: "EVENT_FIELDS", Help: "comma-separated top-level user fields in an event's data; empty = all (user_id, created_at always)", Example: "user_id,created_at,email,identities"},
	{Name: "EVENT_TYPES", Default: "user.created", Help: "comma-separated user events to publish: user.created, user.updated, user.deleted", Example: "user.created,user.updated,user.deleted"},
	{Name: "WEBHOOK_ADDR", Help: "listen address of the Auth0 Event Streams receiver (POST /auth0/events); empty = off", Example: ":8443"},
	{Name: "WEBHOOK_BEARER_TOKEN", Help: "bearer token the Auth0 event stream sends (or WEBHOOK_BEARER_TOKEN_FILE); this or basic credentials with WEBHOOK_ADDR", Example: "<a long random token>", Secret: true, HasFile: true},
	{Name: "WEBHOOK_BASIC_USER", Help: "basic-auth user the Auth0 event stream sends (with WEBHOOK_BASIC_PASSWORD)", Example: "auth0"},
	{Name: "WEBHOOK_BASIC_PASSWORD", Help: "basic-auth password (or WEBHOOK_BASIC_PASSWORD_FILE)", Example: "<a long random password>", Secret: true, HasFile: true},
	{Name: "WEBHOOK_TLS_CERT", Help: "certificate file to serve the receiver over TLS (with WEBHOOK_TLS_KEY)", Example: "/etc/auth0-worker/webhook.pem"},
	{Name: "WEBHOOK_TLS_KEY", Help: "key file to serve the receiver over TLS (with WEBHOOK_TLS_CERT)", Example: "/etc/auth0-worker/webhook-key.pem"},
	{Name: "REDIS_URL", Default: "redis://127.0.0.1:6379/0", Help: "single Redis node: redis:// or rediss:// (TLS), ACL user/password in the URL", Example: "rediss://worker:secret@redis:6380/0"},
	{Name: "REDIS_SENTINEL_ADDRS", Help: "comma-separated Sentinel host:port list (with REDIS_SENTINEL_MASTER), instead of REDIS_URL", Example: "sentinel-1:26379,sentinel-2:26379"},
	{Name: "REDIS_SENTINEL_MASTER", Help: "Sentinel master name (with REDIS_SENTINEL_ADDRS)", Example: "mymaster"},
	{Name: "REDIS_CLUSTER_ADDRS", Help: "comma-separated Redis Cluster host:port list, instead of REDIS_URL", Example: "redis-1:6379,redis-2:6379,redis-3:6379"},
	{Name: "REDIS_USERNAME", Help: "Redis ACL user when not in the URL (the only way with Sentinel or Cluster)", Example: "auth0-worker"},
	{Name: "REDIS_PASSWORD", Help: "Redis password when not in the URL (or REDIS_PASSWORD_FILE)", Example: "<the Redis password>", Secret: true, HasFile: true},
	{Name: "REDIS_DB", Default: "0", Help: "database number (single node and Sentinel; Cluster has only 0); not with a database in REDIS_URL", Example: "0"},
	{Name: "REDIS_TLS", Default: "false", Help: "TLS to Redis in every mode (rediss:// implies true); with Sentinel to the sentinels and the data nodes", Example: "true"},
	{Name: "REDIS_TLS_CA", Help: "CA certificate file for TLS to Redis (default: the system roots)", Example: "/etc/auth0-worker/redis-ca.pem"},
	{Name: "REDIS_TLS_CERT", Help: "client certificate file for TLS to Redis (with REDIS_TLS_KEY)", Example: "/etc/auth0-worker/redis-client.pem"},
	{Name: "REDIS_TLS_KEY", Help: "client key file for TLS to Redis (with REDIS_TLS_CERT)", Example: "/etc/auth0-worker/redis-client-key.pem"},
	{Name: "REDIS_TLS_SERVER_NAME", Help: "name to verify the Redis servers' certificates against (default: each node's host)", Example: "redis.internal"},
	{Name: "REDIS_SENTINEL_USERNAME", Help: "ACL user of the sentinels, when they require auth (with REDIS_SENTINEL_PASSWORD)", Example: "sentinel-client"},
	{Name: "REDIS_SENTINEL_PASSWORD", Help: "password of the sentinels (or REDIS_SENTINEL_PASSWORD_FILE)", Example: "<the Sentinel password>", Secret: true, HasFile: true},
	{Name: "REDIS_KEY_PREFIX", Default: limits.KeyPrefix, Help: "first part of every Redis key", Example: "auth0w-bus-b"},
	{Name: "POLL_SOURCE", Default: "auto", Help: "events, search or auto", Example: "auto"},
	{Name: "POLL_QUERY", Help: "extra Lucene filter ANDed to the new-user query (search only)", Example: "identities.connection:\"Username-Password-Authentication\""},
	{Name: "POLL_LIMIT", Default: strconv.Itoa(limits.PollLimit), Help: "max users published per poll cycle (≥ 1)", Example: "1000"},
	{Name: "POLL_INTERVAL", Default: limits.Text(limits.PollInterval), Help: "search-source cycle", Example: "10s"},
	{Name: "POLL_OVERLAP", Default: limits.Text(limits.PollOverlap), Help: "how far behind the cursor each search re-reads", Example: "2m"},
	{Name: "POLL_START", Default: "now", Help: "first start only: now, all, or an RFC 3339 time", Example: "2026-01-02T15:04:05Z"},
	{Name: "RECONCILE_INTERVAL", Default: limits.Text(limits.ReconcileInterval), Help: "with the events source, how often a search pass catches missed users; 0 = off", Example: "10m"},
	{Name: "DEDUPE_TTL", Default: limits.Text(limits.DedupeTTL), Help: "how long a published event id is remembered (≥ 1s)", Example: "168h"},
	{Name: "LEASE_TTL", Default: limits.Text(limits.LeaseTTL), Help: "the poller lease (≥ " + limits.Text(limits.MinLeaseTTL) + ")", Example: "15s"},
	{Name: "COMMAND_CONCURRENCY", Default: strconv.Itoa(limits.CommandConcurrency), Help: "commands executed at once per process (≥ 1)", Example: "8"},
	{Name: "COMMAND_TIMEOUT", Default: limits.Text(limits.CommandTimeout), Help: "one command's budget, Auth0 retries included", Example: "30s"},
	{Name: "COMMAND_MAX_DELIVER", Default: strconv.Itoa(limits.CommandMaxDeliver), Help: "attempts for a durable command before it is dead-lettered (≥ 1)", Example: "5"},
	{Name: "DLQ_MAX_AGE", Default: limits.Text(limits.DLQMaxAge), Help: "retention of the dead-letter stream (it may hold personal data)", Example: "336h"},
	{Name: "HTTP_ADDR", Default: ":8080", Help: "host:port of /healthz, /readyz, /metrics", Example: ":8080"},
	{Name: "LOG_LEVEL", Default: "info", Help: "debug, info, warn or error", Example: "info"},
	{Name: "LOG_FORMAT", Default: "auto", Help: "auto (tint on a terminal, JSON otherwise), text or json", Example: "json"},
}

var varByName = func() map[string]Var {
	m := make(map[string]Var, len(Vars))
	for _, v := range Vars {
		m[v.Name] = v
		if v.HasFile {
			m[v.Name+"_FILE"] = Var{Name: v.Name + "_FILE", Help: "file holding " + v.Name + " (trimmed)", Example: "/run/secrets/" + strings.ToLower(v.Name)}
		}
	}
	return m
}()

// Usage writes every variable with its flag and default.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "Configuration (environment variable / flag; a flag overrides the variable):")
	for _, v := range Vars {
		def := ""
		if v.Default != "" {
			def = " (default " + v.Default + ")"
		}
		fmt.Fprintf(w, "  %s / %s%s\n      %s\n", v.Name, v.Flag(), def, v.Help)
		if v.HasFile {
			fmt.Fprintf(w, "  %s_FILE / %s-file\n      file holding %s, whitespace trimmed; not with %s\n", v.Name, v.Flag(), v.Name, v.Name)
		}
	}
}
