package main

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// TestE2ECrashSafetySIGKILL: users are created continuously while the worker
// is SIGKILLed three times at random moments and restarted at once each
// time; in the end every user is in AUTH0_USERS exactly once.
func TestE2ECrashSafetySIGKILL(t *testing.T) {
	t.Parallel() // no timing assertions; overlaps the idle durable-commands crash test
	for _, tc := range []struct {
		source string
		knobs  emulator.Knobs
	}{
		{source: "events", knobs: emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond}},
		{source: "search", knobs: emulator.Knobs{IndexLagMax: time.Second}},
	} {
		t.Run(tc.source, func(t *testing.T) {
			r := newE2ERig(t, emulator.Config{Knobs: tc.knobs})
			env := r.env(emulator.DefaultClientID, emulator.DefaultClientSecret,
				"POLL_SOURCE="+tc.source, "POLL_INTERVAL=200ms", "POLL_OVERLAP=5s", "LEASE_TTL=1s",
				// A fixed start point: a restart before the first publish
				// must not move "now" past users created meanwhile.
				"POLL_START="+time.Now().UTC().Add(-time.Second).Format(time.RFC3339))
			p := r.start(env)
			testwait.For(t, 10*time.Second, "the worker to lead", func() bool { return p.IsLeader() })

			const users, over = 300, 4 * time.Second
			kills := randomMoments(3, 300*time.Millisecond, over, 600*time.Millisecond)
			t.Logf("SIGKILL at %v", kills)
			start := time.Now()
			c := testkit.CreateUsers(t, r.emu.Emulator, "crash-"+tc.source, users, over)
			for i, at := range kills {
				<-time.After(time.Until(start.Add(at))) // the random moment of this crash
				p.Kill(t)
				t.Logf("kill %d at %v with %d users created, %d stored", i+1, time.Since(start).Round(time.Millisecond), c.Count(), testkit.Count(r.js, "AUTH0_USERS"))
				p = r.start(env)
			}
			ids := c.Wait()
			testkit.UsersExactlyOnce(t, r.js, ids, 20*time.Second)
			// The last crash may come after every user was stored: the
			// restarted worker then waits out the dead one's lease first.
			testwait.For(t, 5*time.Second, "the last worker to lead", func() bool { return p.IsLeader() })
		})
	}
}

// randomMoments draws n sorted moments in [from, to) at least gap apart.
func randomMoments(n int, from, to, gap time.Duration) []time.Duration {
	for {
		m := make([]time.Duration, n)
		for i := range m {
			m[i] = from + rand.N(to-from)
		}
		sort.Slice(m, func(i, j int) bool { return m[i] < m[j] })
		ok := true
		for i := 1; i < n; i++ {
			if m[i]-m[i-1] < gap {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
}

// Redis restarted mid-run with its data (AOF), then NATS restarted
// mid-run with its file store, while users are created; exactly once, and
// the same worker process recovers on its own.
func TestE2ERedisAndNATSRestartMidRun(t *testing.T) {
	r := newE2ERig(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond}})
	env := r.env(emulator.DefaultClientID, emulator.DefaultClientSecret,
		"POLL_SOURCE=events", "LEASE_TTL=2s", "POLL_OVERLAP=5s",
		"POLL_START="+time.Now().UTC().Add(-time.Second).Format(time.RFC3339))
	p := r.start(env)
	testwait.For(t, 10*time.Second, "the worker to lead", func() bool { return p.IsLeader() })

	start := time.Now()
	c := testkit.CreateUsers(t, r.emu.Emulator, "restart", 300, 4*time.Second)
	<-time.After(time.Until(start.Add(time.Second))) // mid-run
	r.redis.Restart()
	t.Logf("redis restarted at %v with %d users created", time.Since(start).Round(time.Millisecond), c.Count())
	<-time.After(time.Until(start.Add(2500 * time.Millisecond))) // later in the run
	r.nats.Restart()
	t.Logf("nats restarted at %v with %d users created", time.Since(start).Round(time.Millisecond), c.Count())
	ids := c.Wait()
	testkit.UsersExactlyOnce(t, r.js, ids, 20*time.Second)
	if p.Cmd.ProcessState != nil {
		t.Fatalf("the worker exited: %v", p.Cmd.ProcessState)
	}
	testwait.For(t, 10*time.Second, "/readyz 200 after the restarts", func() bool { return p.Ready() })
}

// TestE2EKilledBeforeFirstOffsetKeepsStartPoint: with the events source and
// POLL_START=now, a worker killed after its first start but before it saved
// an offset or published anything must not take a new "now" on restart:
// users who signed up while it was down are still published (reconcile is
// off, so only the persisted start point can bring them).
func TestE2EKilledBeforeFirstOffsetKeepsStartPoint(t *testing.T) {
	t.Parallel()
	r := newE2ERig(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 10 * time.Second}})
	env := r.env(emulator.DefaultClientID, emulator.DefaultClientSecret, "POLL_SOURCE=events", "LEASE_TTL=1s", "RECONCILE_INTERVAL=0")
	p := r.start(env)
	testwait.For(t, 15*time.Second, "the first worker to lead", func() bool { return p.IsLeader() })
	p.Kill(t)
	down := testkit.CreateUsers(t, r.emu.Emulator, "while-down", 20, 500*time.Millisecond).Wait()
	// Let the clock pass the next whole second: from_timestamp is rounded
	// down to seconds, which would otherwise hide a new "now".
	<-time.After(1500 * time.Millisecond)
	p = r.start(env)
	testwait.For(t, 15*time.Second, "the restarted worker to lead", func() bool { return p.IsLeader() })
	after := testkit.CreateUsers(t, r.emu.Emulator, "after", 5, 100*time.Millisecond).Wait()
	testkit.UsersExactlyOnce(t, r.js, append(down, after...), 15*time.Second)
}
