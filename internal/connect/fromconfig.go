package connect

import (
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

// RedisFromConfig maps the loaded configuration to RedisOptions, field by
// field: config has parsed REDIS_URL once and merged the REDIS_* variables.
func RedisFromConfig(c *config.Config) RedisOptions {
	r := c.Redis
	return RedisOptions{
		Addr: r.Addr, SentinelAddrs: r.SentinelAddrs, SentinelMaster: r.SentinelMaster, ClusterAddrs: r.ClusterAddrs,
		Username: r.Username, Password: r.Password.Reveal(), DB: r.DB,
		SentinelUsername: r.SentinelUsername, SentinelPassword: r.SentinelPassword.Reveal(),
		TLS: r.TLS.Enabled, TLSCA: r.TLS.CA, TLSCert: r.TLS.Cert, TLSKey: r.TLS.Key, TLSServerName: r.TLS.ServerName,
	}
}
