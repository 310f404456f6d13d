package poller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

func runPoller(t testing.TB, p *Poller) (cancel func(), done chan error) {
	t.Helper()
	ctx, c := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		c()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return c, done
}

func leaders(ps ...*Poller) (n int, who *Poller) {
	for _, p := range ps {
		if p.IsLeader() {
			n++
			who = p
		}
	}
	return n, who
}

// Two replicas: one leader at a time; after the leader dies without
// releasing, the other takes over within 1.5 × LeaseTTL.
func TestLeaseOneLeaderAndTakeoverAfterCrash(t *testing.T) {
	rs := testredis.Start(t)
	keys := testKeys(t)
	ttl := time.Second
	mk := func() *Poller {
		return unitPoller(t, rs, Options{Source: SourceSearch, Searcher: &fakeSearcher{}, Publisher: newFakePublisher(),
			Dedupe: newMemDedupe(), Keys: keys, LeaseTTL: ttl, Interval: 50 * time.Millisecond})
	}
	a, b := mk(), mk()
	runPoller(t, a)
	runPoller(t, b)
	testwait.For(t, 3*time.Second, "a leader", func() bool { n, _ := leaders(a, b); return n == 1 })

	// Watch for 2 × TTL: never two leaders (renewals keep the same one).
	_, first := leaders(a, b)
	for end := time.Now().Add(2 * ttl); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if n, who := leaders(a, b); n != 1 || who != first {
			t.Fatalf("leadership moved or doubled without a failure: %d leaders", n)
		}
	}
	other := b
	if first == b {
		other = a
	}
	crashed := time.Now()
	crash(t, first)
	testwait.For(t, 2*ttl, "takeover", other.IsLeader)
	took := time.Since(crashed)
	t.Logf("takeover after %v (TTL %v)", took, ttl)
	if took > ttl*3/2 {
		t.Fatalf("takeover took %v, want ≤ 1.5 × %v", took, ttl)
	}
}

// crash stops p's Run without releasing the lease, like a killed process.
func crash(t *testing.T, p *Poller) {
	t.Helper()
	p.mu.Lock()
	c := p.cancelRun
	p.mu.Unlock()
	if c == nil {
		t.Fatal("poller not running")
	}
	p.abandon.Store(true)
	c()
	testwait.For(t, 5*time.Second, "crashed poller to stop", func() bool { return !p.IsLeader() })
}

// A leader whose Redis hangs stops by itself before its lease can expire.
func TestLeaseHangingRedisStopsLeader(t *testing.T) {
	rs := testredis.Start(t)
	ttl := time.Second
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: &fakeSearcher{}, Publisher: newFakePublisher(),
		Dedupe: newMemDedupe(), LeaseTTL: ttl, Interval: 50 * time.Millisecond})
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	admin := rs.Client(t)
	paused := time.Now()
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 2*ttl, "leader to step down", func() bool { return !p.IsLeader() })
	if d := time.Since(paused); d >= ttl {
		t.Fatalf("leader stepped down %v after Redis hung; must be before the TTL (%v)", d, ttl)
	}
	// When Redis answers again it leads again on its own.
	testwait.For(t, 6*time.Second, "leader again", p.IsLeader)
}

func TestCursorWriteChecksLease(t *testing.T) {
	rs := testredis.Start(t)
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: &fakeSearcher{}, Publisher: newFakePublisher(), Dedupe: newMemDedupe()})
	ctx := context.Background()
	if err := p.cursors.saveEvents(ctx, eventsCursor{Offset: "off-1", Time: "2026-01-02T03:04:05.678Z"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write without lease: %v, want ErrLeaseLost", err)
	}
	if ok, err := p.lease.tryAcquire(ctx); !ok || err != nil {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if err := p.cursors.saveEvents(ctx, eventsCursor{Offset: "off-1", Time: "2026-01-02T03:04:05.678Z"}); err != nil {
		t.Fatal(err)
	}
	if err := p.cursors.saveSearch(ctx, searchCursor{CreatedAt: "2026-01-02T03:04:05.678Z", UserID: "auth0|1"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := p.opts.Redis.Get(ctx, p.opts.Keys.CursorSearch()).Result()
	if raw != `{"created_at":"2026-01-02T03:04:05.678Z","user_id":"auth0|1"}` {
		t.Fatalf("search cursor JSON %s", raw)
	}
	// Another instance steals the lease: our writes are refused.
	p.opts.Redis.Set(ctx, p.opts.Keys.Lease(), "someone-else", time.Minute)
	if err := p.cursors.saveEvents(ctx, eventsCursor{Offset: "off-2"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("write after the lease moved: %v, want ErrLeaseLost", err)
	}
	if cur, ok, _ := p.cursors.loadEvents(ctx); !ok || cur.Offset != "off-1" || cur.Time != "2026-01-02T03:04:05.678Z" {
		t.Fatalf("events cursor %+v, want off-1 with its time", cur)
	}
	if raw, _ := p.opts.Redis.Get(ctx, p.opts.Keys.CursorEvents()).Result(); raw != `{"offset":"off-1","time":"2026-01-02T03:04:05.678Z"}` {
		t.Fatalf("events cursor JSON %s", raw)
	}
	p.lease.release()
	if v, _ := p.opts.Redis.Get(ctx, p.opts.Keys.Lease()).Result(); v != "someone-else" {
		t.Fatalf("release deleted another instance's lease")
	}
}
