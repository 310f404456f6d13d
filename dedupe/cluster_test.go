package dedupe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/dedupe/dedupetest"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

// TestRedisClusterConformance runs the suite through a ClusterClient on a
// one-node Redis Cluster owning every slot. Cluster mode refuses multi-key
// commands whose keys hash to different slots (CROSSSLOT) even on one node,
// so this proves a batch never sends one: ids of a batch land on many slots.
func TestRedisClusterConformance(t *testing.T) {
	srv := testredis.StartWith(t, testredis.Options{ExtraArgs: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}})
	ctx := context.Background()
	admin := srv.Client(t)
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("cluster addslotsrange: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := admin.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok within 10s: %v %s", err, info)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}})
	t.Cleanup(func() { _ = rdb.Close() })
	// The premise: a multi-key command across slots is refused here.
	if err := rdb.Do(ctx, "MGET", "a", "b", "c").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET across slots = %v, want CROSSSLOT (is this really a cluster?)", err)
	}
	dedupetest.Run(t, dedupetest.Harness{
		New: func(t *testing.T, ttl time.Duration) dedupe.Store { return dedupe.NewRedis(rdb, uniqueKeys(), ttl) },
	})
}
