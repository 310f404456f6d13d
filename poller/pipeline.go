package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// EventID is a user's event id, <user_id>@<created_at> (created_at verbatim):
// a user deleted and created again with the same id is a new event.
func EventID(u auth0.User) string { return u.UserID + "@" + u.CreatedAt }

// pipeline turns a batch of users into published events:
// dedupe.Seen (one round trip) → publish the unseen (the publisher bounds
// its in-flight messages) → dedupe.Mark the acknowledged (one round trip).
// The caller advances its cursor past the returned done prefix only.
type pipeline struct {
	pub Publisher
	dd  dedupe.Store
	m   *metrics.Metrics
	log *slog.Logger
}

// batchResult says how far a batch got.
type batchResult struct {
	// done is the length of the leading run of users that are certainly in
	// the stream and marked seen (or were skipped as unusable): a cursor may
	// move past them.
	done int
	// published counts users newly stored by JetStream (not duplicates).
	published int
	// publishedUsers are the ids newly published (for counting by callers).
	publishedIDs []string
}

// process runs one batch. maxPublish (≤ 0 = no limit) caps how many unseen
// users are published; the batch's done prefix then ends before the first
// user left for later. err reports the first failure; done is still valid.
func (p *pipeline) process(ctx context.Context, source string, users []auth0.User, maxPublish int) (batchResult, error) {
	var res batchResult
	if len(users) == 0 {
		return res, nil
	}
	ids := make([]string, len(users))
	usable := make([]bool, len(users))
	first := make(map[string]int, len(users)) // id → index of its first occurrence
	var lookup []string
	for i, u := range users {
		if u.UserID == "" || u.CreatedAt == "" {
			p.log.Warn("poller: user without user_id or created_at skipped", "user_id", u.UserID, "source", source)
			continue
		}
		usable[i] = true
		ids[i] = EventID(u)
		if _, dup := first[ids[i]]; !dup {
			first[ids[i]] = i
			lookup = append(lookup, ids[i])
		}
	}
	seenList, err := p.dd.Seen(ctx, lookup)
	if err != nil {
		return res, fmt.Errorf("dedupe seen: %w", err)
	}
	seen := make(map[string]bool, len(lookup))
	for i, id := range lookup {
		seen[id] = seenList[i]
	}

	// Choose what to publish: unseen first occurrences, up to maxPublish.
	var toPub []auth0.User
	var toPubIdx []int
	limitAt := len(users) // index of the first unseen user left for later
	for i := range users {
		if !usable[i] || first[ids[i]] != i || seen[ids[i]] {
			continue
		}
		if maxPublish > 0 && len(toPub) >= maxPublish {
			limitAt = i
			break
		}
		toPub = append(toPub, users[i])
		toPubIdx = append(toPubIdx, i)
	}

	ok := make(map[string]bool, len(toPub)) // published and acked this batch
	var firstErr error
	if len(toPub) > 0 {
		results := p.pub.PublishUsers(ctx, toPub)
		var acked []string
		for j, r := range results {
			if j >= len(toPub) {
				break
			}
			u := toPub[j]
			if !r.Acked && errors.Is(r.Err, publisher.ErrInvalidUser) {
				// Can never become an event: skip rather than retry forever.
				p.log.Warn("poller: user cannot become an event; skipped", "user_id", u.UserID, "source", source, "err", r.Err)
				usable[toPubIdx[j]] = false
				continue
			}
			if !r.Acked {
				if firstErr == nil {
					firstErr = fmt.Errorf("publish %s: %w", ids[toPubIdx[j]], errOr(r.Err))
				}
				p.log.Warn("poller: publish failed; will retry", "user_id", u.UserID, "source", source, "err", r.Err)
				continue
			}
			acked = append(acked, ids[toPubIdx[j]])
		}
		if len(acked) > 0 {
			if err := p.dd.Mark(ctx, acked); err != nil {
				// Published but not marked: not done, so the batch is read
				// again; the republish is absorbed by Nats-Msg-Id.
				return res, fmt.Errorf("dedupe mark: %w", err)
			}
		}
		// Checked once: a disabled Debug call still boxes its arguments.
		debug := p.log.Enabled(ctx, slog.LevelDebug)
		for j, r := range results {
			if j >= len(toPub) || !r.Acked {
				continue
			}
			u := toPub[j]
			ok[ids[toPubIdx[j]]] = true
			if r.Duplicate {
				p.skipped(1)
				continue
			}
			res.published++
			res.publishedIDs = append(res.publishedIDs, ids[toPubIdx[j]])
			created, _ := parseCreatedAt(u.CreatedAt)
			p.m.Published(source, created)
			if debug {
				p.log.Debug("poller: user published", "user_id", u.UserID, "created_at", u.CreatedAt, "source", source)
			}
		}
		if len(results) < len(toPub) && firstErr == nil {
			firstErr = fmt.Errorf("publish: %d results for %d users", len(results), len(toPub))
		}
	}

	// The done prefix: every user before it is seen, acked, unusable or a
	// repeat of one of those.
	skipped := 0
	for i := range users {
		if i >= limitAt {
			break
		}
		if !usable[i] {
			res.done = i + 1
			continue
		}
		id := ids[i]
		switch {
		case seen[id]:
			skipped++
		case ok[id]:
			if first[id] != i {
				skipped++
			}
		default:
			p.skipped(skipped)
			return res, firstErr
		}
		res.done = i + 1
	}
	p.skipped(skipped)
	return res, firstErr
}

func (p *pipeline) skipped(n int) {
	if p.m != nil && n > 0 {
		p.m.DedupeSkipped.Add(float64(n))
	}
}

func errOr(err error) error {
	if err == nil {
		return fmt.Errorf("not acknowledged")
	}
	return err
}

// retryDelay is a capped exponential backoff for loops that must not give
// up (a batch that failed to publish is retried until it succeeds).
func retryDelay(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return min(d, 5*time.Second)
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
