package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// pipeline turns a batch of users into published events:
// dedupe.Seen (one round trip; it refreshes what it finds) → publish the
// unseen (the publisher bounds its in-flight messages) and dead-letter the
// unseen unusable ones (DESIGN.md §4b) → dedupe.Mark the acknowledged (one
// round trip). The caller advances its cursor past the returned done
// prefix only.
type pipeline struct {
	pub Publisher
	dd  dedupe.Store
	m   *metrics.Metrics
	log *slog.Logger
	now func() time.Time
}

// batchResult says how far a batch got.
type batchResult struct {
	// done is the length of the leading run of users that are certainly in
	// the stream (or dead-lettered) and marked seen: a cursor may move past
	// them.
	done int
	// published counts users newly stored by JetStream (not duplicates).
	published int
	// publishedUsers are the ids newly published (for counting by callers).
	publishedIDs []string
}

// futureWarn is how far ahead of the worker's clock a created_at may be
// before publishing it logs a warning.
const futureWarn = time.Minute

// process runs one batch. maxPublish (≤ 0 = no limit) caps how many unseen
// users are published; the batch's done prefix then ends before the first
// user left for later. err reports the first failure; done is still valid.
// An unusable user never fails the batch: it is dead-lettered in it.
func (p *pipeline) process(ctx context.Context, source string, users []auth0.User, maxPublish int) (batchResult, error) {
	var res batchResult
	if len(users) == 0 {
		return res, nil
	}
	ids := make([]string, len(users))
	first := make(map[string]int, len(users)) // id → index of its first occurrence
	var lookup []string
	for i := range users {
		u := &users[i]
		if u.Problem == nil && (u.UserID == "" || u.CreatedAt == "") { // built by hand, not decoded
			u.Problem = auth0.CheckUser(*u)
		}
		if u.Problem == nil && u.Kind != "" {
			u.Problem = publisher.CheckKind(*u)
		}
		if u.Problem != nil {
			ids[i] = publisher.InvalidID(*u)
		} else {
			ids[i] = publisher.EventID(*u)
		}
		if _, dup := first[ids[i]]; !dup {
			first[ids[i]] = i
			lookup = append(lookup, ids[i])
		}
	}
	seen, err := p.seen(ctx, lookup)
	if err != nil {
		return res, err
	}
	handled := make(map[string]bool, len(lookup)) // seen before, or acked now
	for id, s := range seen {
		handled[id] = s
	}

	// Choose what to publish and what to dead-letter: unseen first
	// occurrences, up to maxPublish publishes.
	var toPub []auth0.User
	var toPubIdx []int
	var dls []deadLetter
	limitAt := len(users) // index of the first unseen user left for later
	for i := range users {
		if first[ids[i]] != i || seen[ids[i]] {
			continue
		}
		if users[i].Problem != nil {
			dls = append(dls, deadLetter{idx: i, id: ids[i]})
			continue
		}
		if maxPublish > 0 && len(toPub) >= maxPublish {
			limitAt = i
			break
		}
		toPub = append(toPub, users[i])
		toPubIdx = append(toPubIdx, i)
	}

	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	var acked []string
	var published []int // indexes newly stored
	if len(toPub) > 0 {
		results := p.pub.PublishUsers(ctx, toPub)
		if len(results) < len(toPub) {
			fail(fmt.Errorf("publish: %d results for %d users", len(results), len(toPub)))
		}
		var late []int // users the publisher refused: dead letters after all
		for j, r := range results {
			if j >= len(toPub) {
				break
			}
			i := toPubIdx[j]
			u := users[i]
			switch {
			case !r.Acked && errors.Is(r.Err, publisher.ErrInvalidUser):
				late = append(late, i)
			case !r.Acked:
				fail(fmt.Errorf("publish %s: %w", ids[i], errOr(r.Err)))
				p.log.Warn("poller: publish failed; will retry", "user_id", u.UserID, "source", source, "err", r.Err)
			default:
				acked = append(acked, ids[i])
				if r.Duplicate {
					p.skipped(1)
					continue
				}
				if r.Truncated {
					p.m.Truncated()
					p.log.Warn("poller: user too large for one message; published truncated (auth0truncated)", "user_id", u.UserID, "source", source, "bytes", len(u.Raw))
				}
				published = append(published, i)
			}
		}
		more, err := p.lateDeadLetters(ctx, users, ids, late, results, toPubIdx)
		if err != nil {
			fail(err)
		}
		for _, d := range more {
			first[d.id] = d.idx // ids[d.idx] is now its dead-letter id
			if d.seen {
				handled[d.id] = true
				continue
			}
			dls = append(dls, d)
		}
	}
	acked = append(acked, p.deadLetter(ctx, source, users, dls, fail)...)
	if len(acked) > 0 {
		if err := p.dd.Mark(ctx, acked); err != nil {
			// Published but not marked: not done, so the batch is read
			// again; the republish is absorbed by Nats-Msg-Id.
			return batchResult{}, fmt.Errorf("dedupe mark: %w", err)
		}
		for _, id := range acked {
			handled[id] = true
		}
	}
	p.countPublished(ctx, source, users, ids, published, &res)

	// The done prefix: every user before it is seen, acked (published or
	// dead-lettered) or a repeat of one of those.
	skipped := 0
	for i := 0; i < limitAt; i++ {
		if !handled[ids[i]] {
			break
		}
		if seen[ids[i]] || first[ids[i]] != i {
			skipped++
		}
		res.done = i + 1
	}
	p.skipped(skipped)
	return res, firstErr
}

func (p *pipeline) seen(ctx context.Context, ids []string) (map[string]bool, error) {
	list, err := p.dd.Seen(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("dedupe seen: %w", err)
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		seen[id] = list[i]
	}
	return seen, nil
}

// countPublished records metrics and logs for the users newly stored.
func (p *pipeline) countPublished(ctx context.Context, source string, users []auth0.User, ids []string, published []int, res *batchResult) {
	// Checked once: a disabled Debug call still boxes its arguments.
	debug := p.log.Enabled(ctx, slog.LevelDebug)
	var now time.Time
	for _, i := range published {
		u := users[i]
		res.published++
		res.publishedIDs = append(res.publishedIDs, ids[i])
		kind := publisher.KindOf(u)
		at, _ := parseCreatedAt(publisher.EventTime(u))
		p.m.Published(source, kind[len("user."):], at)
		if now.IsZero() {
			now = p.clock()
		}
		if at.Sub(now) > futureWarn {
			p.log.Warn("poller: event time lies in the future; published, cursors stay at the worker's clock", "user_id", u.UserID, "type", kind, "time", publisher.EventTime(u), "source", source)
		}
		if debug {
			p.log.Debug("poller: event published", "user_id", u.UserID, "type", kind, "time", publisher.EventTime(u), "source", source)
		}
	}
}

func (p *pipeline) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
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

// newRetry is the backoff of loops that must not give up (a batch that
// failed to publish is retried until it succeeds): 100ms doubling to a 5s
// cap, no jitter, never stopping.
func newRetry() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMultiplier(2),
		backoff.WithMaxInterval(5*time.Second), backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(0))
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
