package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// cursorScript writes a cursor only while the lease (KEYS[1]) holds our
// token (ARGV[1]); both keys share the {T} hash tag, so this also works on
// Redis Cluster. Returns 0 when the lease is not ours.
var cursorScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0`)

// searchCursor is P:{T}:cursor:search. A cursor with an empty UserID is a
// start point (POLL_START), not a published user: the window starts exactly
// there, with no overlap, so users created before the start point are not
// published.
type searchCursor struct {
	CreatedAt string `json:"created_at"`
	UserID    string `json:"user_id"`
}

func (c searchCursor) at() string      { return c.CreatedAt }
func (c searchCursor) time() time.Time { return cursorTime(c) }

// windowStart is where a search re-reads from.
func (c searchCursor) windowStart(overlap time.Duration) time.Time {
	if c.UserID == "" {
		return c.time()
	}
	return c.time().Add(-overlap)
}

// cursors reads and writes the two cursors, lease-checked.
type cursors struct {
	l         *lease
	searchKey string
	eventsKey string
}

func (c *cursors) write(ctx context.Context, key, value string) error {
	n, err := withTimeout(ctx, c.l.callTimeout(), func(ctx context.Context) (int, error) {
		return cursorScript.Run(ctx, c.l.rdb, []string{c.l.key, key}, c.l.token, value).Int()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if n != 1 {
		return fmt.Errorf("write %s: %w", key, ErrLeaseLost)
	}
	return nil
}

func (c *cursors) read(ctx context.Context, key string) (string, bool, error) {
	v, err := withTimeout(ctx, c.l.callTimeout(), func(ctx context.Context) (string, error) {
		return c.l.rdb.Get(ctx, key).Result()
	})
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return v, true, nil
}

func (c *cursors) loadSearch(ctx context.Context) (searchCursor, bool, error) {
	var cur searchCursor
	v, ok, err := c.read(ctx, c.searchKey)
	if err != nil || !ok {
		return cur, false, err
	}
	if err := decodeCursor(c.searchKey, v, &cur, "created_at", false); err != nil {
		return searchCursor{}, false, err
	}
	return cur, true, nil
}

// errUnreadableCursor is wrapped by decodeCursor's errors: a stored cursor
// no retry can read (unresolved, it would stall its source for good).
var errUnreadableCursor = errors.New("cursor unreadable")

// decodeCursor unmarshals the JSON v of cursor key into dst (a
// *searchCursor or *eventsCursor) and checks that its time member (named
// field) parses; optional allows it empty.
func decodeCursor(key, v string, dst positioned, field string, optional bool) error {
	if err := json.Unmarshal([]byte(v), dst); err != nil {
		return fmt.Errorf("read %s: %w: bad JSON %q: %w", key, errUnreadableCursor, v, err)
	}
	t := dst.at()
	if t == "" && optional {
		return nil
	}
	if _, err := parseCreatedAt(t); err != nil {
		return fmt.Errorf("read %s: %w: %s %q: %w", key, errUnreadableCursor, field, t, err)
	}
	return nil
}

func (c *cursors) saveSearch(ctx context.Context, cur searchCursor) error {
	b, _ := json.Marshal(cur)
	return c.write(ctx, c.searchKey, string(b))
}

// eventsCursor is P:{T}:cursor:events (README "User life cycle"; docs/architecture.md "Redis keys"): the events
// source's own resume point, offset and the newest event time it published
// (never past the worker's clock), written together in one value by the
// lease-checked script. The stream's tail is only a fallback when the key
// is missing.
type eventsCursor struct {
	Offset string `json:"offset"`
	Time   string `json:"time,omitempty"`
}

func (c eventsCursor) at() string      { return c.Time }
func (c eventsCursor) time() time.Time { return cursorTime(c) }

// positioned is a cursor: at is the time it is positioned at, as stored.
type positioned interface{ at() string }

func cursorTime(c positioned) time.Time {
	t, _ := parseCreatedAt(c.at())
	return t
}

// loadEvents reads the events cursor; ok is false when the key is missing.
// A bare offset (the format before the time was kept) is read as one.
func (c *cursors) loadEvents(ctx context.Context) (eventsCursor, bool, error) {
	v, ok, err := c.read(ctx, c.eventsKey)
	if err != nil || !ok {
		return eventsCursor{}, false, err
	}
	if !strings.HasPrefix(v, "{") {
		return eventsCursor{Offset: v}, true, nil
	}
	var cur eventsCursor
	if err := decodeCursor(c.eventsKey, v, &cur, "time", true); err != nil {
		return eventsCursor{}, false, err
	}
	return cur, true, nil
}

func (c *cursors) saveEvents(ctx context.Context, cur eventsCursor) error {
	b, _ := json.Marshal(cur)
	return c.write(ctx, c.eventsKey, string(b))
}

// createdAtLayout is how the poller writes created_at bounds: Auth0's own
// format (RFC 3339 UTC with milliseconds).
const createdAtLayout = "2006-01-02T15:04:05.000Z"

func formatCreatedAt(t time.Time) string { return t.UTC().Format(createdAtLayout) }

// notAfter is t, or now when t lies in the future: no cursor and no
// from_timestamp ever moves past the worker's clock (README "Bad data"), so the
// next window still covers everyone created meanwhile.
func notAfter(t, now time.Time) time.Time {
	if t.After(now) {
		return now
	}
	return t
}

// lastTimed is the last user of users whose created_at is usable.
func lastTimed(users []auth0.User) (auth0.User, time.Time, bool) {
	for i := len(users) - 1; i >= 0; i-- {
		if users[i].Problem != nil {
			continue
		}
		if t, err := parseCreatedAt(users[i].CreatedAt); err == nil {
			return users[i], t, true
		}
	}
	return auth0.User{}, time.Time{}, false
}

func parseCreatedAt(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
