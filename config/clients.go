package config

import (
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// UniversalOptions returns go-redis options for the configured topology:
// REDIS_URL's address, user, password, database and TLS for a single node;
// the Sentinel or Cluster addresses otherwise. REDIS_PASSWORD applies when
// the URL carries none. Pass it to redis.NewUniversalClient.
func (r Redis) UniversalOptions() *redis.UniversalOptions {
	o := &redis.UniversalOptions{}
	if r.opts != nil {
		o.Username, o.Password, o.DB, o.TLSConfig = r.opts.Username, r.opts.Password, r.opts.DB, r.opts.TLSConfig
		o.Protocol = r.opts.Protocol
	}
	if o.Password == "" {
		o.Password = string(r.Password)
	}
	switch r.Mode {
	case RedisSentinel:
		o.Addrs, o.MasterName = r.SentinelAddrs, r.SentinelMaster
		o.DB = 0
	case RedisCluster:
		o.Addrs, o.DB = r.ClusterAddrs, 0
	default:
		if r.opts != nil {
			o.Addrs = []string{r.opts.Addr}
		}
	}
	return o
}

// Options returns the nats.Connect options for the configured auth and TLS
// (not the server list: pass URL to nats.Connect).
func (n NATS) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case n.Creds != "":
		opts = append(opts, nats.UserCredentials(n.Creds))
	case n.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(n.NKeySeedFile)
		if err != nil {
			return nil, &Error{Var: "NATS_NKEY_SEED_FILE", Problem: "not a valid nkey seed file", Example: varByName["NATS_NKEY_SEED_FILE"].Example}
		}
		opts = append(opts, o)
	case n.User != "":
		opts = append(opts, nats.UserInfo(n.User, string(n.Password)))
	case n.Token != "":
		opts = append(opts, nats.Token(string(n.Token)))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(n.TLSCA))
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(n.TLSCert, n.TLSKey))
	}
	return opts, nil
}
