package poller

import (
	"context"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// rig is one tenant end to end: the emulator, a real redis-server with the
// Redis dedupe store, and a publisher whose stored events the test reads.
type rig struct {
	t    testing.TB
	rs   *testkit.Redis
	ns   *testkit.NATS
	srv  *emulatortest.Server
	keys rediskeys.Keys
	dd   dedupe.Store
	pub  *countingPublisher
	raw  *publisher.Publisher
	js   jetstream.JetStream
	// stream is AUTH0_USERS.
	stream jetstream.Stream
	// outages: Redis or NATS go down in this test, so a re-publish after an
	// ack is legitimate (absorbed by Nats-Msg-Id); only the stream counts.
	outages bool

	mu     sync.Mutex
	stored map[string]int       // Nats-Msg-Id → messages in AUTH0_USERS
	users  map[string]int       // user_id → messages in AUTH0_USERS
	seenAt map[string]time.Time // Nats-Msg-Id → when the watcher first saw it
}

// countingPublisher is the real publisher, counting what the poller asked
// to publish (a re-publish of an acked id means dedupe failed).
type countingPublisher struct {
	*publisher.Publisher
	mu       sync.Mutex
	attempts map[string]int
}

func (c *countingPublisher) PublishUsers(ctx context.Context, users []auth0.User) []PublishResult {
	res := c.Publisher.PublishUsers(ctx, users)
	c.mu.Lock()
	for _, r := range res {
		if r.Acked && !r.Duplicate {
			c.attempts[r.EventID]++
		}
	}
	c.mu.Unlock()
	return res
}

func newRig(t testing.TB, knobs emulator.Knobs, clients ...emulator.ClientCredentials) *rig {
	t.Helper()
	return newRigWatch(t, true, testredis.Options{}, knobs, clients...)
}

// newRigWatch: watch=false skips the test's stream consumer (benchmarks
// count the stream's messages instead, so the consumer does not compete
// for the CPU); ro configures the redis-server.
func newRigWatch(t testing.TB, watch bool, ro testredis.Options, knobs emulator.Knobs, clients ...emulator.ClientCredentials) *rig {
	t.Helper()
	return newRigNATS(t, watch, ro, nil, knobs, clients...)
}

// newRigNATS is newRigWatch with options for the NATS server.
func newRigNATS(t testing.TB, watch bool, ro testredis.Options, nopts []testnats.Option, knobs emulator.Knobs, clients ...emulator.ClientCredentials) *rig {
	t.Helper()
	r := &rig{t: t, rs: testkit.StartRedisWith(t, ro), ns: testkit.StartNATS(t, nopts...), keys: rediskeys.Keys{Prefix: "auth0w", Tenant: "tenant.test"}, stored: map[string]int{}, users: map[string]int{}, seenAt: map[string]time.Time{}}
	r.srv = testkit.Emulator(t, emulator.Config{Knobs: knobs, Clients: clients})
	r.dd = dedupe.NewRedis(r.rs.Client(t), r.keys, time.Hour)
	po := publisher.Options{Names: testkit.Names, Source: r.srv.URL + "/", AckTimeout: 2 * time.Second}
	r.js = r.ns.JetStream(t, publisher.JetStreamOpts(po)...)
	r.stream = testkit.EnsureStream(t, r.js, testkit.Names.UsersStream(publisher.StreamOptions{}))
	testkit.EnsureStream(t, r.js, testkit.Names.DLQStream(publisher.StreamOptions{}))
	pub, err := publisher.New(r.js, po)
	if err != nil {
		t.Fatal(err)
	}
	r.pub = &countingPublisher{Publisher: pub, attempts: map[string]int{}}
	r.raw = pub
	if watch {
		testkit.Watch(t, r.stream, r.seen)
	}
	return r
}

// seen counts one stored event by Nats-Msg-Id and by user.
func (r *rig) seen(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored[id]++
	if at := strings.LastIndexByte(id, '@'); at > 0 {
		r.users[id[:at]]++
	}
	if _, ok := r.seenAt[id]; !ok {
		r.seenAt[id] = time.Now()
	}
}

// dups lists event ids stored more than once in the stream.
func (r *rig) dups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return testkit.Repeated(r.stored)
}

// republished lists ids the poller published again after an ack (the
// stream's Nats-Msg-Id window hid it, but dedupe should have).
func (r *rig) republished() []string {
	r.pub.mu.Lock()
	defer r.pub.mu.Unlock()
	return testkit.Repeated(r.pub.attempts)
}

// expectExactlyOnce waits until every id is stored and checks none twice.
func (r *rig) expectExactlyOnce(ids []string, within time.Duration) {
	r.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	testwait.For(r.t, within, "every user in the stream", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for id := range want {
			if r.users[id] == 0 {
				return false
			}
		}
		return true
	})
	if d := r.dups(); len(d) > 0 {
		r.t.Fatalf("%d events stored twice, e.g. %s", len(d), d[0])
	}
	if d := r.republished(); len(d) > 0 && !r.outages {
		r.t.Fatalf("%d events published again after an ack (dedupe missed them), e.g. %s", len(d), d[0])
	}
}

// storedUsers counts stored events per user_id (event id user_id@created_at).
func (r *rig) storedUsers() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.users)
}

// pastCap counts /users searches that asked beyond the 1000-result cap.
func pastCap(reqs []emulator.LoggedRequest) (n int, searches int) {
	for _, r := range reqs {
		if r.Path != "/api/v2/users" {
			continue
		}
		searches++
		q, _ := url.ParseQuery(r.Query)
		page, _ := strconv.Atoi(q.Get("page"))
		per, _ := strconv.Atoi(q.Get("per_page"))
		if per == 0 {
			per = 50
		}
		if (page+1)*per > 1000 || r.Status == 400 {
			n++
		}
	}
	return n, searches
}

// Shorter names of kit parts the tests use.
var (
	ctxT          = testkit.Context
	value         = testkit.Value
	discardLogger = testkit.Logger
)

// waitStreamMsgs waits until AUTH0_USERS holds n messages and returns the
// time its last message was stored.
func (r *rig) waitStreamMsgs(n uint64, within time.Duration) time.Time {
	r.t.Helper()
	return testkit.WaitCount(r.t, r.js, testkit.Names.Users, n, within)
}
