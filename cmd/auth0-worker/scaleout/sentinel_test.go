package scaleout

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

const (
	redisUser = "worker"
	redisPW   = "redis-acl-pa55word"
)

// redisTLSACL is every Redis node's configuration here: TLS only and an
// ACL user, the default user off.
func redisTLSACL(p *testpki.PKI) testredis.Options {
	return testredis.Options{ACLUser: redisUser, ACLPassword: redisPW, TLS: p}
}

// redisAuthEnv is the worker's Redis user, password and TLS.
func redisAuthEnv(p *testpki.PKI) []string {
	return []string{"REDIS_USERNAME=" + redisUser, "REDIS_PASSWORD=" + redisPW, "REDIS_TLS=true", "REDIS_TLS_CA=" + p.CAFile}
}

// TestRedisSentinelMasterLoss: Redis behind Sentinel with TLS and an ACL
// user (the sentinel with its own user), two workers. The master is killed
// mid-burst: every user is stored exactly once, the next event is stored
// within 3s of the promotion, and both workers lead at once for no longer
// than LEASE_TTL.
func TestRedisSentinelMasterLoss(t *testing.T) {
	const leaseTTL = 2 * time.Second
	p := testpki.New(t)
	ss := testredis.StartSentinel(t, redisTLSACL(p))
	ns := testnats.Start(t)
	emu := emulatortest.NewServer(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond, Latency: 20 * time.Millisecond}})
	env := append(baseEnv(emu, "NATS_URL="+ns.URL(), "LEASE_TTL="+leaseTTL.String(),
		"REDIS_SENTINEL_ADDRS="+ss.SentinelAddr, "REDIS_SENTINEL_MASTER="+testredis.MasterName,
		"REDIS_SENTINEL_USERNAME="+ss.SentinelUser, "REDIS_SENTINEL_PASSWORD="+ss.SentinelPassword), redisAuthEnv(p)...)
	dir := t.TempDir()
	workers := []*testkit.Worker{testkit.Start(t, dir, env), testkit.Start(t, dir, env)}
	testwait.For(t, 15*time.Second, "a worker to lead", func() bool { return workers[0].IsLeader() || workers[1].IsLeader() })
	overlap := watchLeaders(t, workers)
	js := client(t, ns.Connect(t))

	start := time.Now()
	cr := testkit.CreateUsers(t, emu.Emulator, "sentinel", 400, 5*time.Second)
	<-time.After(time.Until(start.Add(time.Second)))
	ss.Master.Stop()
	killed := time.Now()
	promoted := ss.WaitPromotion(t, ss.Master.Addr(), 20*time.Second)
	ids := cr.Wait()
	msgs := testkit.UsersExactlyOnce(t, js, ids, 30*time.Second)
	next := testkit.FirstStoredAfter(msgs, promoted)
	longest := overlap()
	p99, n := testkit.LagP99(t, msgs, start, time.Now())
	t.Logf("RELIABILITY Redis master kill (Sentinel, TLS, ACL): promoted %v after the kill; next event stored %v after the promotion; longest two-leader overlap %v (LEASE_TTL %v); creation-to-stored p99 %v over %d events",
		promoted.Sub(killed).Round(time.Millisecond), next.Sub(promoted).Round(time.Millisecond), longest, leaseTTL, p99.Round(time.Millisecond), n)
	if next.IsZero() || next.Sub(promoted) > resumeMargin {
		t.Errorf("next event stored %v after the promotion, want ≤ %v (target 3 s, BENCHMARKS.md Reliability)", next.Sub(promoted), resumeMargin)
	}
	if longest > leaseTTL {
		t.Errorf("both workers led for %v at once, more than LEASE_TTL %v", longest, leaseTTL)
	}
	// check follows the Sentinel to the promoted master; a wrong Sentinel
	// password is one line naming the sentinel.
	if code, out := check(t, env); code != 0 || !strings.Contains(out, "(sentinel): ping, EVAL and writes ok") {
		t.Errorf("check exited %d:\n%s", code, out)
	}
	code, out := check(t, append(append([]string{}, env...), "REDIS_SENTINEL_PASSWORD=wrong"))
	if line := failLine(out, "redis"); code == 0 || !strings.Contains(line, "redis: ping sentinel "+ss.SentinelAddr+" master mymaster db 0 tls: ") {
		t.Errorf("check with a wrong Sentinel password exited %d; want a FAIL redis line naming the sentinel:\n%s", code, out)
	}
}

// watchLeaders samples the workers' leader gauges every 50ms until the
// returned function is called; it returns the longest stretch during which
// more than one worker reported leading.
func watchLeaders(t *testing.T, workers []*testkit.Worker) func() time.Duration {
	stop, done := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var longest time.Duration
	go func() {
		defer close(done)
		var since time.Time
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			leaders := 0
			for _, w := range workers {
				if w.IsLeader() {
					leaders++
				}
			}
			now := time.Now()
			switch {
			case leaders > 1 && since.IsZero():
				since = now
			case leaders > 1:
				mu.Lock()
				longest = max(longest, now.Sub(since))
				mu.Unlock()
			default:
				since = time.Time{}
			}
		}
	}()
	var once sync.Once
	finish := func() time.Duration {
		once.Do(func() { close(stop); <-done })
		mu.Lock()
		defer mu.Unlock()
		return longest
	}
	t.Cleanup(func() { finish() })
	return finish
}
