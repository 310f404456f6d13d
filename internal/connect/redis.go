package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// RedisOptions configure Redis: typed fields, no URL (config parses REDIS_URL
// once). Exactly one topology applies: Cluster when ClusterAddrs is set, else
// Sentinel when SentinelAddrs is set, else the single node Addr. User,
// password, database and TLS apply to every topology.
type RedisOptions struct {
	// Addr is the single node's host:port. Default DefaultRedisAddr.
	Addr string
	// SentinelAddrs and SentinelMaster are REDIS_SENTINEL_ADDRS and
	// REDIS_SENTINEL_MASTER (both or neither).
	SentinelAddrs  []string
	SentinelMaster string
	// ClusterAddrs is REDIS_CLUSTER_ADDRS, seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// Username and Password are the ACL user and password of the data nodes
	// (REDIS_URL or REDIS_USERNAME/REDIS_PASSWORD). Default none.
	Username, Password string
	// DB is the database (REDIS_URL's path or REDIS_DB); must be 0 with
	// Cluster. Default 0.
	DB int
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// themselves (REDIS_SENTINEL_USERNAME/PASSWORD). Default none.
	SentinelUsername, SentinelPassword string
	// TLS turns TLS on for every node, sentinels included. Default off.
	TLS bool
	// TLSCA, TLSCert, TLSKey, TLSServerName are REDIS_TLS_CA, _CERT, _KEY,
	// _SERVER_NAME; they need TLS. Default: system roots, no client
	// certificate, each node's host.
	TLSCA, TLSCert, TLSKey, TLSServerName string
	// DialTimeout per connection attempt. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// ClientName is sent with CLIENT SETNAME. Default DefaultClientName.
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
// and logs: "rediss://127.0.0.1:6380/0", "sentinel a:26379 master m db 0
// tls", "cluster a:7000,b:7001".
func (o RedisOptions) RedactedAddr() string {
	tls := ""
	if o.TLS {
		tls = " tls"
	}
	switch o.RedisTopology() {
	case "cluster":
		return "cluster " + strings.Join(o.ClusterAddrs, ",") + tls
	case "sentinel":
		return "sentinel " + strings.Join(o.SentinelAddrs, ",") + " master " + o.SentinelMaster + " db " + strconv.Itoa(o.DB) + tls
	}
	scheme := "redis"
	if o.TLS {
		scheme = "rediss"
	}
	return scheme + "://" + o.addr() + "/" + strconv.Itoa(o.DB)
}

func (o RedisOptions) addr() string {
	limits.Fill(&o.Addr, DefaultRedisAddr)
	return o.Addr
}

func (o RedisOptions) validate() error {
	if len(o.ClusterAddrs) > 0 && len(o.SentinelAddrs) > 0 {
		return fmt.Errorf("%w: set REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS, not both", ErrInvalidOptions)
	}
	if (len(o.SentinelAddrs) > 0) != (o.SentinelMaster != "") {
		return fmt.Errorf("%w: REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER must be set together (example: REDIS_SENTINEL_ADDRS=10.0.0.1:26379,10.0.0.2:26379 REDIS_SENTINEL_MASTER=mymaster)", ErrInvalidOptions)
	}
	lists := map[string][]string{"REDIS_SENTINEL_ADDRS": o.SentinelAddrs, "REDIS_CLUSTER_ADDRS": o.ClusterAddrs, "REDIS_URL": {o.addr()}}
	for name, list := range lists {
		for _, a := range list {
			if _, _, err := net.SplitHostPort(a); err != nil || strings.Contains(a, "/") {
				return fmt.Errorf("%w: %s: %q is not host:port (example: 10.0.0.1:6379)", ErrInvalidOptions, name, a)
			}
		}
	}
	switch {
	case o.DB < 0:
		return fmt.Errorf("%w: REDIS_DB: %d is negative", ErrInvalidOptions, o.DB)
	case o.DB != 0 && o.RedisTopology() == "cluster":
		return fmt.Errorf("%w: REDIS_DB: database %d with REDIS_CLUSTER_ADDRS; Redis Cluster has only database 0", ErrInvalidOptions, o.DB)
	case !o.TLS && (o.TLSCA != "" || o.TLSCert != "" || o.TLSKey != "" || o.TLSServerName != ""):
		return fmt.Errorf("%w: REDIS_TLS_*: set but TLS to Redis is off (REDIS_TLS=true)", ErrInvalidOptions)
	case (o.TLSCert == "") != (o.TLSKey == ""):
		return fmt.Errorf("%w: REDIS_TLS_CERT and REDIS_TLS_KEY must be set together", ErrInvalidOptions)
	}
	return nil
}

func (o RedisOptions) tlsConfig() (*tls.Config, error) {
	if !o.TLS {
		return nil, nil
	}
	return tlsConfig("REDIS_TLS", o.TLSCA, o.TLSCert, o.TLSKey, o.TLSServerName)
}

// Redis builds a client for opts. It does no network I/O (go-redis dials
// lazily; the TLS files are read now): call PingRedis to find out whether
// Redis is reachable and accepts the credentials. Sentinel uses a failover
// client that follows the master (TLS and the sentinels' own credentials
// apply to the sentinels too); Cluster a cluster client. Every client
// honours the deadline of a call's context (ContextTimeoutEnabled): a caller
// bounds a call against a hanging Redis with context.WithTimeout alone.
func Redis(opts RedisOptions) (redis.UniversalClient, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	name := opts.ClientName
	limits.Fill(&name, DefaultClientName)
	dial := limits.OrPositive(opts.DialTimeout, DefaultDialTimeout)
	switch opts.RedisTopology() {
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: opts.ClusterAddrs, Username: opts.Username, Password: opts.Password,
			TLSConfig: tlsCfg, ClientName: name, DialTimeout: dial,
			ContextTimeoutEnabled: true,
		}), nil
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: opts.SentinelMaster, SentinelAddrs: opts.SentinelAddrs,
			SentinelUsername: opts.SentinelUsername, SentinelPassword: opts.SentinelPassword,
			Username: opts.Username, Password: opts.Password, DB: opts.DB,
			TLSConfig: tlsCfg, ClientName: name, DialTimeout: dial,
			ContextTimeoutEnabled: true,
		}), nil
	}
	return redis.NewClient(&redis.Options{
		Addr: opts.addr(), Username: opts.Username, Password: opts.Password, DB: opts.DB,
		TLSConfig: tlsCfg, ClientName: name, DialTimeout: dial,
		ContextTimeoutEnabled: true,
	}), nil
}

// PingRedis checks that Redis answers and accepts the credentials. The error
// names where Redis is (without credentials) and the cause, e.g.
// "redis: ping redis://127.0.0.1:6379/0: WRONGPASS invalid username-password
// pair or user is disabled.".
func PingRedis(ctx context.Context, rdb redis.UniversalClient, opts RedisOptions) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping %s: %w", opts.RedactedAddr(), scrub(err, opts.Password, opts.SentinelPassword))
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
