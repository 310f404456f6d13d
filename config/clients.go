package config

import "github.com/redis/go-redis/v9"

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
