package poller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// The windowing over a fake tenant: more users than the cap, hundreds
// sharing one millisecond, random index lag; every user exactly once and
// no page past the cap.
func TestSearchWindowCapTiesLag(t *testing.T) {
	rs := testredis.Start(t)
	fs := &fakeSearcher{}
	pub := newFakePublisher()
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: fs, Publisher: pub, Dedupe: newMemDedupe(),
		Start: pollstart.Start{Mode: pollstart.All}, Interval: 50 * time.Millisecond, Overlap: time.Second})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	n := 0
	add := func(at time.Time, lag time.Duration) {
		fs.add(fmt.Sprintf("auth0|u%05d", n), at, lag)
		n++
	}
	for i := 0; i < 1200; i++ { // existing users, far beyond the cap
		add(base.Add(time.Duration(i)*time.Millisecond), 0)
	}
	runPoller(t, p)
	// Bursts while polling: 300 sharing one millisecond, 700 within a second, random lag.
	now := time.Now()
	for i := 0; i < 300; i++ {
		add(now, time.Duration(rand.IntN(300))*time.Millisecond)
	}
	for i := 0; i < 700; i++ {
		add(now.Add(time.Duration(i)*time.Millisecond), time.Duration(rand.IntN(300))*time.Millisecond)
	}
	testwait.For(t, 10*time.Second, "every user published", func() bool { return pub.count() == n })
	testwait.For(t, 5*time.Second, "a few more cycles", func() bool { return fs.requestCount() > 30 })
	if d := pub.dups(); len(d) > 0 {
		t.Fatalf("%d users published twice, e.g. %s", len(d), d[0])
	}
	if fs.pastCap != 0 {
		t.Fatalf("%d requests past the 1000-result cap", fs.pastCap)
	}
}

func TestSearchLimitPerCycle(t *testing.T) {
	rs := testredis.Start(t)
	fs := &fakeSearcher{}
	pub := newFakePublisher()
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: fs, Publisher: pub, Dedupe: newMemDedupe(),
		Start: pollstart.Start{Mode: pollstart.All}, Limit: 100, Interval: 300 * time.Millisecond})
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 250; i++ {
		fs.add(fmt.Sprintf("auth0|l%04d", i), base.Add(time.Duration(i)*time.Second), 0)
	}
	runPoller(t, p)
	testwait.For(t, 5*time.Second, "first cycle", func() bool { return pub.count() > 0 })
	if c := pub.count(); c != 100 {
		t.Fatalf("first cycle published %d, want POLL_LIMIT 100", c)
	}
	testwait.For(t, 5*time.Second, "the rest", func() bool { return pub.count() == 250 })
	if d := pub.dups(); len(d) > 0 {
		t.Fatalf("published twice: %v", d)
	}
}

// POLL_START=now publishes users created after the start, not those just
// before it (even within the overlap), also after the cursor moved.
func TestSearchStartNow(t *testing.T) {
	rs := testredis.Start(t)
	fs := &fakeSearcher{}
	pub := newFakePublisher()
	overlap := 500 * time.Millisecond
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: fs, Publisher: pub, Dedupe: newMemDedupe(),
		Interval: 30 * time.Millisecond, Overlap: overlap})
	fs.add("auth0|before-old", time.Now().Add(-time.Hour), 0)
	fs.add("auth0|before-recent", time.Now().Add(-overlap/2), 0)
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "leader", p.IsLeader)
	testwait.For(t, 3*time.Second, "a cycle", func() bool { return fs.requestCount() > 0 })
	for i := 0; i < 5; i++ {
		fs.add(fmt.Sprintf("auth0|after-%d", i), time.Now(), 50*time.Millisecond)
		time.Sleep(2 * overlap / 5) // spread created_at so the cursor moves past start+overlap
	}
	testwait.For(t, 5*time.Second, "new users", func() bool { return pub.count() == 5 })
	n := fs.requestCount()
	testwait.For(t, 3*time.Second, "more cycles", func() bool { return fs.requestCount() > n+5 })
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for id := range pub.stored {
		if strings.HasPrefix(id, "auth0|before") {
			t.Errorf("published %s, created before POLL_START=now", id)
		}
	}
	if len(pub.stored) != 5 {
		t.Fatalf("published %d users, want the 5 created after the start", len(pub.stored))
	}
}

// A publish outage: nothing is skipped, nothing doubled, the cursor waits.
func TestSearchPublishOutage(t *testing.T) {
	rs := testredis.Start(t)
	fs := &fakeSearcher{}
	pub := newFakePublisher()
	dd := newMemDedupe()
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: fs, Publisher: pub, Dedupe: dd,
		Start: pollstart.Start{Mode: pollstart.All}, Interval: 30 * time.Millisecond})
	base := time.Now().Add(-time.Minute)
	for i := 0; i < 50; i++ {
		fs.add(fmt.Sprintf("auth0|o%03d", i), base.Add(time.Duration(i)*time.Millisecond), 0)
	}
	pub.setFail(errBoom)
	runPoller(t, p)
	testwait.For(t, 3*time.Second, "cycles while publishing fails", func() bool { return fs.requestCount() > 3 })
	cur, ok, err := p.cursors.loadSearch(context.Background())
	if err != nil || !ok || cur.UserID != "" {
		t.Fatalf("cursor moved while nothing was published: %+v %v %v", cur, ok, err)
	}
	pub.setFail(nil)
	testwait.For(t, 3*time.Second, "all published", func() bool { return pub.count() == 50 })
	testwait.For(t, 3*time.Second, "cursor at the newest user", func() bool {
		cur, _, _ := p.cursors.loadSearch(context.Background())
		return cur.UserID == "auth0|o049"
	})
	if d := pub.dups(); len(d) > 0 {
		t.Fatalf("published twice: %v", d)
	}
}

// Reproduction: a stored search cursor no retry can read ("{not json") was
// retried forever, and the search (or a backfill) never started. It is now
// logged and replaced: the search starts as without a cursor.
func TestUnreadableSearchCursorIsReplaced(t *testing.T) {
	rs := testredis.Start(t)
	fs := &fakeSearcher{}
	pub := newFakePublisher()
	p := unitPoller(t, rs, Options{Source: SourceSearch, Searcher: fs, Publisher: pub, Dedupe: newMemDedupe(),
		Start: pollstart.Start{Mode: pollstart.All}, Interval: 30 * time.Millisecond})
	if err := p.opts.Redis.Set(context.Background(), p.cursors.searchKey, "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for i := range 10 {
		fs.add(fmt.Sprintf("auth0|u%03d", i), base.Add(time.Duration(i)*time.Millisecond), 0)
	}
	runPoller(t, p)
	testwait.For(t, 5*time.Second, "every user published", func() bool { return pub.count() == 10 })
	if cur, ok, err := p.cursors.loadSearch(context.Background()); err != nil || !ok {
		t.Fatalf("cursor after the restart: %+v %v %v; want a readable one", cur, ok, err)
	}
}
