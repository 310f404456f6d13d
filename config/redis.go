package config

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// redisURL is REDIS_URL parsed once; each field is "not given" when empty
// (hasDB says whether the path named a database).
type redisURL struct {
	addr, user, password string
	db                   int
	hasDB, tls           bool
}

func (l *loader) redis(c *Config) error {
	r := &c.Redis
	if err := l.redisTopology(r); err != nil {
		return err
	}
	var u redisURL
	if r.Mode == RedisSingle {
		s, v := l.str("REDIS_URL")
		var problem string
		if u, problem = parseRedisURL(s); problem != "" {
			return badNoEcho(v, redactURL(s), problem)
		}
		u.hasDB = u.hasDB && !v.empty() // the default's /0 does not conflict with REDIS_DB
		r.URL, r.Addr = redactURL(s), u.addr
	}
	steps := []func(*Redis, redisURL) error{l.redisAuth, l.redisDB, l.redisTLS, l.redisSentinelAuth}
	for _, step := range steps {
		if err := step(r, u); err != nil {
			return err
		}
	}
	kp, kv := l.str("REDIS_KEY_PREFIX")
	switch {
	case hasSpace(kp):
		return bad(kv, "contains whitespace")
	case strings.ContainsAny(kp, "{}"):
		return bad(kv, "must not contain { or } (they are Redis Cluster hash tags)")
	}
	r.KeyPrefix = kp
	return nil
}

// redisTopology sets Mode and the Sentinel or Cluster addresses.
func (l *loader) redisTopology(r *Redis) error {
	r.Mode = RedisSingle
	urlV := l.get("REDIS_URL")
	sentinel, master, cluster := l.get("REDIS_SENTINEL_ADDRS"), l.get("REDIS_SENTINEL_MASTER"), l.get("REDIS_CLUSTER_ADDRS")
	conflict := func(name, problem string) error {
		return &Error{Var: name, Problem: problem, Example: varByName[name].Example}
	}
	switch {
	case !sentinel.empty() && !cluster.empty():
		return conflict("REDIS_CLUSTER_ADDRS", "conflicts with REDIS_SENTINEL_ADDRS: use Sentinel or Cluster, not both")
	case !urlV.empty() && !sentinel.empty():
		return conflict("REDIS_SENTINEL_ADDRS", "conflicts with REDIS_URL: set REDIS_URL for one node, or Sentinel (user, password, database and TLS through REDIS_USERNAME, REDIS_PASSWORD, REDIS_DB, REDIS_TLS), not both")
	case !urlV.empty() && !cluster.empty():
		return conflict("REDIS_CLUSTER_ADDRS", "conflicts with REDIS_URL: set REDIS_URL for one node, or Cluster (user, password and TLS through REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS), not both")
	case !sentinel.empty() && master.empty():
		return conflict("REDIS_SENTINEL_MASTER", "is not set but REDIS_SENTINEL_ADDRS is (required with Sentinel)")
	case sentinel.empty() && !master.empty():
		return conflict("REDIS_SENTINEL_ADDRS", "is not set but REDIS_SENTINEL_MASTER is")
	}
	var err error
	switch {
	case !sentinel.empty():
		r.Mode = RedisSentinel
		if r.SentinelAddrs, err = splitAddrs(sentinel); err != nil {
			return err
		}
		if hasSpace(master.s) {
			return bad(master, "contains whitespace")
		}
		r.SentinelMaster = master.s
	case !cluster.empty():
		r.Mode = RedisCluster
		if r.ClusterAddrs, err = splitAddrs(cluster); err != nil {
			return err
		}
	}
	return nil
}

// parseRedisURL is the one parse of REDIS_URL. It returns a problem text
// (never quoting the URL: it may carry a password) or the typed parts.
func parseRedisURL(s string) (redisURL, string) {
	const invalid = "not a valid Redis URL: "
	if hasSpace(s) {
		return redisURL{}, invalid + "contains whitespace"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return redisURL{}, "not a valid Redis URL"
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return redisURL{}, "scheme must be redis:// or rediss://"
	case u.Opaque != "" || u.Hostname() == "":
		return redisURL{}, invalid + "has no host"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return redisURL{}, invalid + "query parameters are not supported (TLS, user, password and database have REDIS_* variables)"
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return redisURL{}, invalid + "has an invalid port"
	}
	out := redisURL{addr: net.JoinHostPort(u.Hostname(), port), tls: u.Scheme == "rediss"}
	if u.User != nil {
		out.user = u.User.Username()
		out.password, _ = u.User.Password()
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return redisURL{}, invalid + "the database (the path) must be a number 0 or more, e.g. /0"
		}
		out.db, out.hasDB = n, true
	}
	return out, ""
}

// redisAuth takes the ACL user and password from REDIS_URL or the
// variables, refusing one given in both.
func (l *loader) redisAuth(r *Redis, u redisURL) error {
	user := l.get("REDIS_USERNAME")
	switch {
	case hasSpace(user.s):
		return bad(user, "contains whitespace")
	case !user.empty() && u.user != "":
		return bad(user, "is set but REDIS_URL already carries a user; use one")
	}
	pass, err := l.secret("REDIS_PASSWORD")
	if err != nil {
		return err
	}
	if !pass.empty() && u.password != "" {
		return &Error{Var: pass.name, Flag: pass.flag, Problem: "is set but REDIS_URL already carries a password; use one", Example: varByName["REDIS_PASSWORD"].Example}
	}
	r.Username, r.Password = cmp.Or(u.user, user.s), Secret(cmp.Or(u.password, pass.s)) // at most one of each is set
	return nil
}

// redisDB takes the database from REDIS_URL's path or REDIS_DB.
func (l *loader) redisDB(r *Redis, u redisURL) error {
	v := l.get("REDIS_DB")
	if v.empty() {
		r.DB = u.db
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.s))
	switch {
	case err != nil || n < 0:
		return bad(v, "must be a database number, 0 or more")
	case u.hasDB:
		return bad(v, fmt.Sprintf("is set but REDIS_URL already names database %d; use one", u.db))
	case n != 0 && r.Mode == RedisCluster:
		return bad(v, "must be 0 with REDIS_CLUSTER_ADDRS (Redis Cluster has only database 0)")
	}
	r.DB = n
	return nil
}

// redisTLS reads REDIS_TLS*; rediss:// turns TLS on, and a TLS file or
// server name without TLS is refused rather than silently ignored.
func (l *loader) redisTLS(r *Redis, u redisURL) error {
	t := &r.TLS
	t.Enabled = u.tls
	if v := l.get("REDIS_TLS"); !v.empty() {
		on, err := strconv.ParseBool(strings.TrimSpace(v.s))
		switch {
		case err != nil:
			return bad(v, "must be true or false")
		case !on && u.tls:
			return bad(v, "is false but REDIS_URL is rediss:// (TLS); use one")
		}
		t.Enabled = t.Enabled || on
	}
	for _, name := range []string{"REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_TLS_SERVER_NAME"} {
		v := l.get(name)
		switch {
		case v.empty():
			continue
		case !t.Enabled:
			return bad(v, "is set but TLS to Redis is off (set REDIS_TLS=true or use rediss://)")
		case name == "REDIS_TLS_SERVER_NAME":
			if hasSpace(v.s) {
				return bad(v, "contains whitespace")
			}
		default:
			if err := readable(v); err != nil {
				return err
			}
		}
	}
	t.CA, t.Cert, t.Key = l.get("REDIS_TLS_CA").s, l.get("REDIS_TLS_CERT").s, l.get("REDIS_TLS_KEY").s
	t.ServerName = l.get("REDIS_TLS_SERVER_NAME").s
	if (t.Cert == "") != (t.Key == "") {
		if t.Cert == "" {
			return &Error{Var: "REDIS_TLS_CERT", Problem: "is not set but REDIS_TLS_KEY is (set both or neither)", Example: varByName["REDIS_TLS_CERT"].Example}
		}
		return &Error{Var: "REDIS_TLS_KEY", Problem: "is not set but REDIS_TLS_CERT is (set both or neither)", Example: varByName["REDIS_TLS_KEY"].Example}
	}
	return nil
}

// redisSentinelAuth reads the sentinels' own credentials (Sentinel only).
func (l *loader) redisSentinelAuth(r *Redis, _ redisURL) error {
	user := l.get("REDIS_SENTINEL_USERNAME")
	pass, err := l.secret("REDIS_SENTINEL_PASSWORD")
	if err != nil {
		return err
	}
	notSentinel := "is set but REDIS_SENTINEL_ADDRS is not (the sentinels' own credentials apply only with Sentinel)"
	switch {
	case !user.empty() && r.Mode != RedisSentinel:
		return bad(user, notSentinel)
	case !pass.empty() && r.Mode != RedisSentinel:
		return &Error{Var: pass.name, Flag: pass.flag, Problem: notSentinel, Example: varByName[pass.name].Example}
	case hasSpace(user.s):
		return bad(user, "contains whitespace")
	case !user.empty() && pass.empty():
		return &Error{Var: "REDIS_SENTINEL_PASSWORD", Problem: "is not set but REDIS_SENTINEL_USERNAME is (set both)", Example: varByName["REDIS_SENTINEL_PASSWORD"].Example}
	}
	r.SentinelUsername, r.SentinelPassword = user.s, Secret(pass.s)
	return nil
}
