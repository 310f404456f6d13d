package poller

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// fakeSearcher is a tiny in-memory tenant for unit tests of the windowing:
// created_at range queries, sort created_at:1 with ties in a stable
// non-creation order, index lag, and the 1000-result cap.
type fakeSearcher struct {
	mu       sync.Mutex
	users    []fakeUser
	requests []auth0.SearchParams
	pastCap  int
	fail     error
}

type fakeUser struct {
	u       auth0.User
	created time.Time
	visible time.Time
	tie     string
}

func (f *fakeSearcher) add(id string, created time.Time, lag time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ca := formatCreatedAt(created)
	f.users = append(f.users, fakeUser{
		u:       auth0.User{UserID: id, CreatedAt: ca, Raw: []byte(fmt.Sprintf(`{"user_id":%q,"created_at":%q}`, id, ca))},
		created: created.Truncate(time.Millisecond), visible: time.Now().Add(lag),
		tie: fmt.Sprintf("%x", []byte(id))[3:],
	})
}

var rangeRe = regexp.MustCompile(`^created_at:\[(\S+) TO (\S+)\]`)

func (f *fakeSearcher) SearchUsers(ctx context.Context, p auth0.SearchParams) (*auth0.UsersPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, p)
	if f.fail != nil {
		return nil, f.fail
	}
	if (p.Page+1)*p.PerPage > auth0.SearchCap {
		f.pastCap++
		return nil, &auth0.APIError{Status: 400, ErrorCode: "invalid_paging", Message: "You can only page through the first 1000 records"}
	}
	m := rangeRe.FindStringSubmatch(p.Query)
	if m == nil || p.Sort != "created_at:1" {
		return nil, fmt.Errorf("fake: unexpected query %q sort %q", p.Query, p.Sort)
	}
	lo, _ := parseCreatedAt(m[1])
	var hi time.Time
	if m[2] != "*" {
		hi, _ = parseCreatedAt(m[2])
	}
	now := time.Now()
	var match []fakeUser
	for _, u := range f.users {
		if u.visible.After(now) || u.created.Before(lo) || (!hi.IsZero() && u.created.After(hi)) {
			continue
		}
		match = append(match, u)
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].created.Equal(match[j].created) {
			return match[i].created.Before(match[j].created)
		}
		return match[i].tie < match[j].tie
	})
	page := &auth0.UsersPage{Start: p.Page * p.PerPage, Limit: p.PerPage, Total: len(match)}
	for i := p.Page * p.PerPage; i < len(match) && i < (p.Page+1)*p.PerPage; i++ {
		page.Users = append(page.Users, match[i].u)
	}
	return page, nil
}

func (f *fakeSearcher) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// fakePublisher stores events by id and counts how often each was stored.
type fakePublisher struct {
	mu     sync.Mutex
	stored map[string]int
	order  []string
	last   time.Time
	fail   error
	// failIDs makes these event ids fail to publish.
	failIDs map[string]bool
	// window, when set, emulates JetStream's Nats-Msg-Id window; without
	// it every publish is stored, so stored[id] > 1 shows a re-publish.
	window map[string]bool
	// dead are the dead letters published.
	dead []publisher.DeadLetter
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{stored: map[string]int{}}
}

func (f *fakePublisher) PublishUsers(ctx context.Context, users []auth0.User) []PublishResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]PublishResult, len(users))
	for i, u := range users {
		id := publisher.EventID(u)
		out[i].EventID = id
		if f.fail != nil || f.failIDs[id] {
			out[i].Err = errBoom
			continue
		}
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i].Acked = true
		if f.window != nil {
			if f.window[id] {
				out[i].Duplicate = true
				continue
			}
			f.window[id] = true
		}
		f.stored[id]++
		f.order = append(f.order, id)
		if t, err := parseCreatedAt(u.CreatedAt); err == nil && t.After(f.last) {
			f.last = t
		}
	}
	return out
}

func (f *fakePublisher) PublishDeadLetters(ctx context.Context, dls []publisher.DeadLetter) []PublishResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]PublishResult, len(dls))
	for i, d := range dls {
		out[i] = PublishResult{EventID: d.ID, Acked: f.fail == nil}
		if f.fail != nil {
			out[i].Err = f.fail
			continue
		}
		f.dead = append(f.dead, d)
	}
	return out
}

func (f *fakePublisher) LastCreatedAt(ctx context.Context) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last.IsZero() {
		return "", false, nil
	}
	return formatCreatedAt(f.last), true, nil
}

// dups lists ids stored more than once.
func (f *fakePublisher) dups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return testkit.Repeated(f.stored)
}

func (f *fakePublisher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

func (f *fakePublisher) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// memDedupe is a map seen-set.
type memDedupe struct {
	mu   sync.Mutex
	seen map[string]bool
	fail error
}

func newMemDedupe() *memDedupe { return &memDedupe{seen: map[string]bool{}} }

func (d *memDedupe) Seen(ctx context.Context, ids []string) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return nil, d.fail
	}
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = d.seen[id]
	}
	return out, nil
}

func (d *memDedupe) Mark(ctx context.Context, ids []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	for _, id := range ids {
		d.seen[id] = true
	}
	return nil
}

var errBoom = errors.New("boom")

func testKeys(t testing.TB) rediskeys.Keys {
	return rediskeys.Keys{Prefix: "test", Tenant: "tenant-" + fmt.Sprint(time.Now().UnixNano())}
}

// unitPoller builds a Poller over fakes and a real redis-server.
func unitPoller(t testing.TB, rs *testredis.Server, o Options) *Poller {
	t.Helper()
	if o.Redis == nil {
		o.Redis = rs.Client(t)
	}
	if o.Keys.Tenant == "" {
		o.Keys = testKeys(t)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = time.Second
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
