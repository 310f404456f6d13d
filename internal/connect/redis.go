package connect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure Redis. Exactly one topology applies: Cluster when
// ClusterAddrs is set, else Sentinel when SentinelAddrs is set, else the
// single node of URL.
type RedisOptions struct {
	// URL is REDIS_URL: redis://[user:password@]host:port/db, or rediss://
	// for TLS. Default "redis://127.0.0.1:6379/0". With Sentinel or Cluster
	// its host is ignored but its user, password, database and rediss://
	// scheme still apply (so an ACL user and TLS work in every topology).
	URL string
	// Password is REDIS_PASSWORD, used when the URL carries none. Default none.
	Password string
	// SentinelAddrs and SentinelMaster are REDIS_SENTINEL_ADDRS and
	// REDIS_SENTINEL_MASTER (both or neither). The Sentinels themselves are
	// reached with SentinelPassword (default: none).
	SentinelAddrs  []string
	SentinelMaster string
	// SentinelPassword authenticates to the Sentinels when they require it.
	// Not a documented variable (README "Configuration"); default none.
	SentinelPassword string
	// ClusterAddrs is REDIS_CLUSTER_ADDRS, seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// DialTimeout per connection attempt. Default 5s.
	DialTimeout time.Duration
	// ClientName is sent with CLIENT SETNAME. Default "auth0-worker".
	ClientName string
}

// RedisTopology says which topology opts select: "single", "sentinel" or
// "cluster".
func (o RedisOptions) RedisTopology() string {
	switch {
	case len(o.ClusterAddrs) > 0:
		return "cluster"
	case len(o.SentinelAddrs) > 0:
		return "sentinel"
	}
	return "single"
}

// RedactedAddr describes where Redis is, without credentials, for errors
// and logs.
func (o RedisOptions) RedactedAddr() string {
	switch o.RedisTopology() {
	case "cluster":
		return "cluster " + strings.Join(o.ClusterAddrs, ",")
	case "sentinel":
		return "sentinel " + strings.Join(o.SentinelAddrs, ",") + " master " + o.SentinelMaster
	}
	return redactURL(o.url())
}

func (o RedisOptions) url() string {
	if strings.TrimSpace(o.URL) == "" {
		return "redis://127.0.0.1:6379/0"
	}
	return strings.TrimSpace(o.URL)
}

// parseURL parses REDIS_URL without ever echoing it (url.Parse errors quote
// the whole URL, password included).
func (o RedisOptions) parseURL() (*redis.Options, error) {
	raw := o.url()
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: REDIS_URL: not a valid URL (%v); example redis://user:password@127.0.0.1:6379/0", ErrInvalidOptions, err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%w: REDIS_URL: scheme %q not supported (use redis:// or rediss://)", ErrInvalidOptions, u.Scheme)
	}
	ro, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: REDIS_URL %s: %v", ErrInvalidOptions, redactURL(raw), scrub(err, o.Password, passwordOf(u)))
	}
	if ro.Password == "" {
		ro.Password = o.Password
	}
	return ro, nil
}

func passwordOf(u *url.URL) string {
	if u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

func (o RedisOptions) validate() error {
	if len(o.ClusterAddrs) > 0 && len(o.SentinelAddrs) > 0 {
		return fmt.Errorf("%w: set REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS, not both", ErrInvalidOptions)
	}
	if (len(o.SentinelAddrs) > 0) != (o.SentinelMaster != "") {
		return fmt.Errorf("%w: REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER must be set together (example: REDIS_SENTINEL_ADDRS=10.0.0.1:26379,10.0.0.2:26379 REDIS_SENTINEL_MASTER=mymaster)", ErrInvalidOptions)
	}
	for name, list := range map[string][]string{"REDIS_SENTINEL_ADDRS": o.SentinelAddrs, "REDIS_CLUSTER_ADDRS": o.ClusterAddrs} {
		for _, a := range list {
			if a == "" || strings.Contains(a, "://") || !strings.Contains(a, ":") {
				return fmt.Errorf("%w: %s: %q is not host:port (example: 10.0.0.1:6379)", ErrInvalidOptions, name, a)
			}
		}
	}
	return nil
}

// Redis builds a client for opts. It does no I/O (go-redis dials lazily):
// call PingRedis to find out whether Redis is reachable and accepts the
// credentials. Sentinel uses a failover client that follows the master;
// Cluster a cluster client (database must be 0). Every client honours the
// deadline of a call's context (ContextTimeoutEnabled): a caller bounds a
// call against a hanging Redis with context.WithTimeout alone.
func Redis(opts RedisOptions) (redis.UniversalClient, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	base, err := opts.parseURL()
	if err != nil {
		return nil, err
	}
	name := opts.ClientName
	if name == "" {
		name = "auth0-worker"
	}
	dial := orDur(opts.DialTimeout, 5*time.Second)
	switch opts.RedisTopology() {
	case "cluster":
		if base.DB != 0 {
			return nil, fmt.Errorf("%w: REDIS_URL: database %d with REDIS_CLUSTER_ADDRS; Redis Cluster has only database 0", ErrInvalidOptions, base.DB)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: opts.ClusterAddrs, Username: base.Username, Password: base.Password,
			TLSConfig: tlsFor(base), ClientName: name, DialTimeout: dial,
			ContextTimeoutEnabled: true,
		}), nil
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: opts.SentinelMaster, SentinelAddrs: opts.SentinelAddrs, SentinelPassword: opts.SentinelPassword,
			Username: base.Username, Password: base.Password, DB: base.DB,
			TLSConfig: tlsFor(base), ClientName: name, DialTimeout: dial,
			ContextTimeoutEnabled: true,
		}), nil
	}
	base.ClientName = name
	base.DialTimeout = dial
	base.ContextTimeoutEnabled = true
	return redis.NewClient(base), nil
}

// tlsFor keeps rediss:// meaning TLS in Sentinel and Cluster mode too; the
// server name then comes from each node's address.
func tlsFor(base *redis.Options) *tls.Config {
	if base.TLSConfig == nil {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// PingRedis checks that Redis answers and accepts the credentials. The error
// names where Redis is (without credentials) and the cause, e.g.
// "redis: ping redis://[redacted]@127.0.0.1:6379/0: WRONGPASS invalid
// username-password pair or user is disabled.".
func PingRedis(ctx context.Context, rdb redis.UniversalClient, opts RedisOptions) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		u, _ := url.Parse(opts.url())
		var up string
		if u != nil {
			up = passwordOf(u)
		}
		return fmt.Errorf("redis: ping %s: %w", opts.RedactedAddr(), scrub(err, opts.Password, up, opts.SentinelPassword))
	}
	return nil
}

// SetRedisLogger routes go-redis's own log lines (pool dial failures,
// Sentinel master changes) to log at Warn instead of its default stderr
// logger. go-redis keeps one logger per process, so call it once from main.
func SetRedisLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	redis.SetLogger(redisLogger{log.With("component", "redis")})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
