package connect

import "github.com/auth0-worker/auth0-worker/config"

// NATSFromConfig maps the loaded configuration (DESIGN.md §3) to NATSOptions.
func NATSFromConfig(c *config.Config) NATSOptions {
	n := c.NATS
	return NATSOptions{
		URL: n.URL, CredsFile: n.Creds, NKeySeedFile: n.NKeySeedFile,
		User: n.User, Password: n.Password.Reveal(), Token: n.Token.Reveal(),
		TLSCA: n.TLSCA, TLSCert: n.TLSCert, TLSKey: n.TLSKey,
	}
}

// RedisFromConfig maps the loaded configuration to RedisOptions. The
// topology follows config's Mode (single, sentinel, cluster).
func RedisFromConfig(c *config.Config) RedisOptions {
	r := c.Redis
	o := RedisOptions{URL: r.URL, Password: r.Password.Reveal()}
	switch r.Mode {
	case config.RedisSentinel:
		o.SentinelAddrs, o.SentinelMaster = r.SentinelAddrs, r.SentinelMaster
	case config.RedisCluster:
		o.ClusterAddrs = r.ClusterAddrs
	}
	return o
}
