package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
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

func (c searchCursor) time() time.Time {
	t, _ := parseCreatedAt(c.CreatedAt)
	return t
}

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
	v, ok, err := c.read(ctx, c.searchKey)
	if err != nil || !ok {
		return searchCursor{}, false, err
	}
	var cur searchCursor
	if err := json.Unmarshal([]byte(v), &cur); err != nil {
		return searchCursor{}, false, fmt.Errorf("read %s: bad JSON %q: %w", c.searchKey, v, err)
	}
	if _, err := parseCreatedAt(cur.CreatedAt); err != nil {
		return searchCursor{}, false, fmt.Errorf("read %s: created_at %q: %w", c.searchKey, cur.CreatedAt, err)
	}
	return cur, true, nil
}

func (c *cursors) saveSearch(ctx context.Context, cur searchCursor) error {
	b, _ := json.Marshal(cur)
	return c.write(ctx, c.searchKey, string(b))
}

func (c *cursors) loadEvents(ctx context.Context) (string, error) {
	v, _, err := c.read(ctx, c.eventsKey)
	return v, err
}

func (c *cursors) saveEvents(ctx context.Context, offset string) error {
	return c.write(ctx, c.eventsKey, offset)
}

// createdAtLayout is how the poller writes created_at bounds: Auth0's own
// format (RFC 3339 UTC with milliseconds).
const createdAtLayout = "2006-01-02T15:04:05.000Z"

func formatCreatedAt(t time.Time) string { return t.UTC().Format(createdAtLayout) }

func parseCreatedAt(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
