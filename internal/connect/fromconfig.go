package connect

import (
	"net"
	"net/url"
	"strconv"

	"github.com/auth0-worker/auth0-worker/config"
)

// NATSFromConfig maps the loaded configuration (README "Configuration") to NATSOptions.
func NATSFromConfig(c *config.Config) NATSOptions {
	n := c.NATS
	return NATSOptions{
		URL: n.URL, CredsFile: n.Creds, NKeySeedFile: n.NKeySeedFile,
		User: n.User, Password: n.Password.Reveal(), Token: n.Token.Reveal(),
		TLSCA: n.TLSCA, TLSCert: n.TLSCert, TLSKey: n.TLSKey,
	}
}

// RedisFromConfig maps the loaded configuration to RedisOptions. The
// topology follows config's Mode (single, sentinel, cluster). config keeps
// REDIS_URL only redacted, so the URL is rebuilt from its parsed options:
// scheme (rediss:// = TLS), user, address and database, with the password
// (from the URL or REDIS_PASSWORD) in Password. Query parameters of
// REDIS_URL (timeouts, pool sizes) are not carried over.
func RedisFromConfig(c *config.Config) RedisOptions {
	r := c.Redis
	uo := r.UniversalOptions()
	host := "127.0.0.1:6379"
	if len(uo.Addrs) > 0 {
		host = uo.Addrs[0]
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "6379")
	}
	u := &url.URL{Scheme: "redis", Host: host, Path: "/" + strconv.Itoa(uo.DB)}
	if uo.TLSConfig != nil {
		u.Scheme = "rediss"
	}
	if uo.Username != "" {
		u.User = url.User(uo.Username)
	}
	o := RedisOptions{URL: u.String(), Password: uo.Password}
	switch r.Mode {
	case config.RedisSentinel:
		o.SentinelAddrs, o.SentinelMaster = r.SentinelAddrs, r.SentinelMaster
		o.URL = (&url.URL{Scheme: u.Scheme, User: u.User, Host: "sentinel", Path: u.Path}).String()
	case config.RedisCluster:
		o.ClusterAddrs = r.ClusterAddrs
		o.URL = (&url.URL{Scheme: u.Scheme, User: u.User, Host: "cluster", Path: "/0"}).String()
	}
	return o
}
