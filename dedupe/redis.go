package dedupe

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
)

// DefaultTTL is DEDUPE_TTL's default.
const DefaultTTL = limits.DedupeTTL

type redisStore struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedis returns the production Store: one key per event id,
// P:T:seen:<event id> = "1" (docs/architecture.md, "Redis keys"), written with SET NX EX ttl.
// A ttl ≤ 0 means DefaultTTL; Redis counts it in whole seconds when it is a
// whole number of seconds, else in milliseconds.
//
// Both calls pipeline one command per id, so a batch costs one round trip per
// Redis node. Per-id commands (EXISTS, SET) rather than MGET keep it valid on
// Redis Cluster, where one batch spans many slots: the ClusterClient pipeline
// routes each command to its node.
//
// A Mark never extends an existing mark (NX): the TTL counts from the first
// publish of the event, or from the last Seen that found it.
func NewRedis(rdb redis.UniversalClient, keys rediskeys.Keys, ttl time.Duration) Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &redisStore{rdb: rdb, prefix: keys.SeenPrefix(), ttl: ttl}
}

func (s *redisStore) Seen(ctx context.Context, ids []string) ([]bool, error) {
	out := make([]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// EXPIRE answers whether the key exists and refreshes it in one command.
	cmds := make([]*redis.BoolCmd, len(ids))
	precise := s.ttl%time.Second != 0
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			if precise {
				cmds[i] = p.PExpire(ctx, s.prefix+id, s.ttl)
			} else {
				cmds[i] = p.Expire(ctx, s.prefix+id, s.ttl)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dedupe: seen (%d ids): %w", len(ids), err)
	}
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

func (s *redisStore) Mark(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.SetNX(ctx, s.prefix+id, "1", s.ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dedupe: mark (%d ids): %w", len(ids), err)
	}
	return nil
}
