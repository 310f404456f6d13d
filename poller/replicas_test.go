package poller

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// creator adds users at a steady pace until stopped; ids returns them all.
type creator struct {
	mu   sync.Mutex
	ids  []string
	stop chan struct{}
	done chan struct{}
}

func startCreating(t *testing.T, e *emulator.Emulator, prefix string, every time.Duration, per int) *creator {
	c := &creator{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			us := make([]emulator.SeedUser, per)
			for j := range us {
				us[j] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|%s%04d-%03d", prefix, i, j)}
			}
			ids, err := e.CreateUsers(us)
			if err != nil {
				t.Error(err)
				return
			}
			c.mu.Lock()
			c.ids = append(c.ids, ids...)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.finish)
	return c
}

func (c *creator) finish() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *creator) all() []string {
	c.finish()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

// Two replicas: exactly once, one active poller at a time in the request
// log, and after the leader dies without releasing its lease the other
// takes over within 1.5 × LEASE_TTL.
func TestTwoReplicasOneActiveAndTakeover(t *testing.T) {
	r := newRig(t, emulator.Knobs{IndexLagMax: 500 * time.Millisecond})
	ttl := time.Second
	o := Options{Source: SourceSearch, Interval: 100 * time.Millisecond, Overlap: 3 * time.Second, LeaseTTL: ttl}
	a, _ := r.poller(o, "replica-a")
	b, _ := r.poller(o, "replica-b")
	runPoller(t, a)
	runPoller(t, b)
	testwait.For(t, 3*time.Second, "a leader", func() bool { n, _ := leaders(a, b); return n == 1 })
	c := startCreating(t, r.srv.Emulator, "rep", 50*time.Millisecond, 10)
	time.Sleep(1500 * time.Millisecond) // let the first leader publish for a while
	n, leader := leaders(a, b)
	if n != 1 {
		t.Fatalf("%d leaders", n)
	}
	other := b
	if leader == b {
		other = a
	}
	crashedAt := time.Now()
	crash(t, leader)
	testwait.For(t, 2*ttl, "takeover", other.IsLeader)
	took := time.Since(crashedAt)
	time.Sleep(time.Second) // the new leader polls while users keep coming
	r.expectExactlyOnce(c.all(), 10*time.Second)
	if took > ttl*3/2 {
		t.Fatalf("takeover after %v, want ≤ 1.5 × %v", took, ttl)
	}
	// One active poller at a time: the searches switch replica once, at the crash.
	var reqs []emulator.LoggedRequest
	for _, q := range r.srv.Emulator.Requests() {
		if strings.HasPrefix(q.Path, "/api/v2/") {
			reqs = append(reqs, q)
		}
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Time.Before(reqs[j].Time) })
	switches := 0
	for i := 1; i < len(reqs); i++ {
		if reqs[i].UserAgent != reqs[i-1].UserAgent {
			switches++
			if reqs[i].Time.Before(crashedAt) {
				t.Fatalf("replica %s searched at %v while %s was active", reqs[i].UserAgent, reqs[i].Time, reqs[i-1].UserAgent)
			}
		}
	}
	if switches != 1 {
		t.Fatalf("the active replica changed %d times in the request log, want 1", switches)
	}
	t.Logf("takeover after %v; %d searches", took, len(reqs))
}

// Redis restarted mid-run (with its data) and NATS restarted mid-run (with
// its file store): exactly once in the stream, and the poller recovers by
// itself.
func TestRedisAndNATSRestartMidRun(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	r.outages = true
	p, _ := r.poller(Options{Source: SourceEvents}, "")
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	c := startCreating(t, r.srv.Emulator, "rs", 50*time.Millisecond, 5)
	time.Sleep(time.Second)
	// Each one down longer than the lease TTL (1s), then back with its data.
	r.rs.Stop()
	testwait.For(t, 3*time.Second, "leader to step down while Redis is down", func() bool { return !p.IsLeader() })
	time.Sleep(500 * time.Millisecond)
	r.rs.Start()
	testwait.For(t, 5*time.Second, "leader again after Redis is back", p.IsLeader)
	time.Sleep(500 * time.Millisecond)
	r.ns.Shutdown()
	time.Sleep(1500 * time.Millisecond)
	r.ns.Restart()
	time.Sleep(time.Second)
	ids := c.all()
	r.expectExactlyOnce(ids, 20*time.Second)
	// Still working after both outages.
	more := seed(t, r.srv.Emulator, "after", 10, nil, false)
	r.expectExactlyOnce(append(ids, more...), 10*time.Second)
	if !p.IsLeader() {
		t.Fatal("poller not leading after the restarts")
	}
}
