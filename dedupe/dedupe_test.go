package dedupe_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/dedupe/dedupetest"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

// TestMemoryConformance runs the suite in synctest bubbles: the store keeps
// the real clock and the expiry cases sleep in fake time.
func TestMemoryConformance(t *testing.T) {
	dedupetest.Run(t, dedupetest.Harness{
		New:      func(t *testing.T, ttl time.Duration) dedupe.Store { return dedupe.NewMemory(ttl, nil) },
		Advance:  func(t *testing.T, d time.Duration) { time.Sleep(d) },
		Synctest: true,
	})
}

var prefixes atomic.Int64

// uniqueKeys gives each store of a run its own key space on a shared server.
func uniqueKeys() rediskeys.Keys {
	return rediskeys.Keys{Prefix: fmt.Sprintf("test%d", prefixes.Add(1)), Tenant: "tenant.example:443"}
}

func TestRedisConformance(t *testing.T) {
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	dedupetest.Run(t, dedupetest.Harness{
		New: func(t *testing.T, ttl time.Duration) dedupe.Store { return dedupe.NewRedis(rdb, uniqueKeys(), ttl) },
	})
}

func TestMiniredisConformance(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	dedupetest.Run(t, dedupetest.Harness{
		New:     func(t *testing.T, ttl time.Duration) dedupe.Store { return dedupe.NewRedis(rdb, uniqueKeys(), ttl) },
		Advance: func(t *testing.T, d time.Duration) { mr.FastForward(d) },
	})
}

// TestRedisKeysAndTTL checks the key layout (docs/architecture.md "Redis keys") on a real server: P:T:seen:<id> =
// "1" with the store's TTL, set once (NX).
func TestRedisKeysAndTTL(t *testing.T) {
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	keys := rediskeys.Keys{Prefix: "auth0w", Tenant: "tenant.eu.auth0.com"}
	s := dedupe.NewRedis(rdb, keys, 90*time.Second)
	ctx := context.Background()
	id := "auth0|abc@2026-03-01T10:00:00.123Z"
	if err := s.Mark(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}
	key := "auth0w:tenant.eu.auth0.com:seen:" + id
	if key != keys.Seen(id) {
		t.Fatalf("key layout drifted: %s vs %s", key, keys.Seen(id))
	}
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "1" {
		t.Fatalf("GET %s = %q, %v", key, v, err)
	}
	ttl, err := rdb.TTL(ctx, key).Result()
	if err != nil || ttl <= 85*time.Second || ttl > 90*time.Second {
		t.Fatalf("TTL %s = %v, %v; want about 90s", key, ttl, err)
	}
	// Expiry on a real server: a 1 s mark is gone once Redis expires it.
	short := dedupe.NewRedis(rdb, keys, time.Second)
	if err := short.Mark(ctx, []string{"short"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// EXISTS, not Seen: Seen would refresh the TTL it waits for.
		n, err := rdb.Exists(ctx, keys.Seen("short")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 1s mark still seen after 5s")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// roundTrips counts what go-redis sends: single commands and pipelines.
type roundTrips struct{ single, pipelines, cmds atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "exists" || n == "set" || n == "get" || n == "mget" {
			r.single.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if n := cmds[0].Name(); n != "expire" && n != "pexpire" && n != "set" { // connection set-up (HELLO, CLIENT SETINFO)
			return next(ctx, cmds)
		}
		r.pipelines.Add(1)
		r.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestRedisOneRoundTripPerBatch(t *testing.T) {
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil { // connection set-up is not ours to count
		t.Fatal(err)
	}
	rt := &roundTrips{}
	rdb.AddHook(rt)
	s := dedupe.NewRedis(rdb, uniqueKeys(), time.Hour)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint("id", i)
	}
	if _, err := s.Seen(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if rt.single.Load() != 0 || rt.pipelines.Load() != 2 || rt.cmds.Load() != 200 {
		t.Fatalf("single %d pipelines %d cmds %d; want 0, 2, 200", rt.single.Load(), rt.pipelines.Load(), rt.cmds.Load())
	}
}

// TestRedisDown: errors, not false answers, when Redis is unreachable.
func TestRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	s := dedupe.NewRedis(rdb, uniqueKeys(), time.Hour)
	if got, err := s.Seen(context.Background(), []string{"a"}); err == nil {
		t.Fatalf("Seen with Redis down = %v, no error", got)
	}
	if err := s.Mark(context.Background(), []string{"a"}); err == nil {
		t.Fatal("Mark with Redis down: no error")
	}
}

func TestMemorySweepKeepsLiveMarks(t *testing.T) {
	synctest.Test(t, memorySweepKeepsLiveMarks)
}

// memorySweepKeepsLiveMarks runs in a synctest bubble: time.Sleep moves the
// store's clock (time.Now) without waiting.
func memorySweepKeepsLiveMarks(t *testing.T) {
	s := dedupe.NewMemory(time.Minute, nil)
	ctx := context.Background()
	if err := s.Mark(ctx, []string{"live"}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		batch := make([]string, 2000)
		for i := range batch {
			batch[i] = fmt.Sprintf("r%d-%d", round, i)
		}
		if err := s.Mark(ctx, batch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
	}
	got, _ := s.Seen(ctx, []string{"live", "r4-0", "r0-0"})
	if !got[0] || !got[1] || !got[2] {
		t.Fatalf("after sweeps within the TTL: %v", got)
	}
	time.Sleep(2 * time.Minute)
	if err := s.Mark(ctx, make([]string, 1024)); err != nil { // triggers a sweep
		t.Fatal(err)
	}
	got, _ = s.Seen(ctx, []string{"live", "r4-0"})
	if got[0] || got[1] {
		t.Fatalf("expired marks seen: %v", got)
	}
}

func benchIDs(n, round int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("auth0|%024x@2026-03-01T10:00:00.%03dZ", round*n+i, i%1000)
	}
	return ids
}

func benchSeenMark(b *testing.B, s dedupe.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer() // building ids is the caller's cost, not the store's
		ids := benchIDs(100, round)
		round++
		b.StartTimer()
		if _, err := s.Seen(ctx, ids); err != nil {
			b.Fatal(err)
		}
		if err := s.Mark(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/id")
}

// BenchmarkSeenMark100 is one poll batch: Seen of 100 ids, then Mark of them.
func BenchmarkSeenMark100(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		srv := testredis.Start(b)
		benchSeenMark(b, dedupe.NewRedis(srv.Client(b), uniqueKeys(), time.Hour))
	})
	// The same with fsync once a second instead of on every write (testredis
	// defaults to always, for crash tests): shows what the disk costs.
	b.Run("redis-fsync-everysec", func(b *testing.B) {
		srv := testredis.StartWith(b, testredis.Options{ExtraArgs: []string{"--appendfsync", "everysec"}})
		benchSeenMark(b, dedupe.NewRedis(srv.Client(b), uniqueKeys(), time.Hour))
	})
	b.Run("memory", func(b *testing.B) {
		benchSeenMark(b, dedupe.NewMemory(time.Hour, nil))
	})
}
