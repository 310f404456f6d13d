package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
// unseen unusable ones (README "Bad data") → dedupe.Mark the acknowledged (one
// round trip). The caller advances its cursor past the returned done
// prefix only.
type pipeline struct {
	pub Publisher
	dd  dedupe.Store
	m   *metrics.Metrics
	log *slog.Logger
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
	if len(users) == 0 {
		return batchResult{}, nil
	}
	b := &batchRun{p: p, ctx: ctx, source: source, users: users}
	if err := b.lookup(b.identify()); err != nil {
		return batchResult{}, err
	}
	b.choose(maxPublish)
	b.publish()
	b.ackDeadLetters()
	if err := b.mark(); err != nil {
		// Published but not marked: not done, so the batch is read
		// again; the republish is absorbed by Nats-Msg-Id.
		return batchResult{}, err
	}
	var res batchResult
	p.countPublished(ctx, source, users, b.ids, b.published, &res)
	res.done = b.donePrefix()
	return res, b.err
}

// batchRun is the state of one process call. Per user it keeps the event id
// and the index of the first user of the batch with that id (a repeat
// follows its first occurrence); seen and handled are indexed by user and
// meaningful at first occurrences only.
type batchRun struct {
	p      *pipeline
	ctx    context.Context
	source string
	users  []auth0.User

	ids     []string
	first   []int
	seen    []bool // seen before (dedupe.Seen)
	handled []bool // seen before, or acknowledged now (published or dead-lettered)

	toPub   []int // indexes to publish, in order
	dls     []deadLetter
	limitAt int // index of the first unseen user left for later (maxPublish)

	acked     []int // indexes acknowledged by JetStream, to be marked seen
	published []int // indexes newly stored
	err       error // the first failure
}

// fail records err when it is the batch's first failure.
func (b *batchRun) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// identify completes the checks (of users built by hand rather than
// decoded, and of updated/deleted events), computes each user's id once (its
// dead-letter id when unusable) and finds repeats. It returns the first
// occurrences, in order: the ids to look up.
func (b *batchRun) identify() (firsts []int) {
	n := len(b.users)
	b.ids, b.first = make([]string, n), make([]int, n)
	b.seen, b.handled = make([]bool, n), make([]bool, n)
	index := make(map[string]int, n)
	firsts = make([]int, 0, n)
	for i := range b.users {
		u := &b.users[i]
		if u.Problem == nil && (u.UserID == "" || u.CreatedAt == "") {
			u.Problem = auth0.CheckUser(*u)
		}
		if u.Problem == nil && u.Kind != "" {
			u.Problem = publisher.CheckKind(*u)
		}
		if u.Problem != nil {
			b.ids[i] = publisher.InvalidID(*u)
		} else {
			b.ids[i] = publisher.EventID(*u)
		}
		f, dup := index[b.ids[i]]
		if !dup {
			f = i
			index[b.ids[i]] = i
			firsts = append(firsts, i)
		}
		b.first[i] = f
	}
	return firsts
}

// lookup asks dedupe, in one round trip, which first occurrences are seen.
func (b *batchRun) lookup(firsts []int) error {
	ids := make([]string, len(firsts))
	for k, i := range firsts {
		ids[k] = b.ids[i]
	}
	seen, err := b.p.seen(b.ctx, ids)
	if err != nil {
		return err
	}
	for k, i := range firsts {
		b.seen[i], b.handled[i] = seen[k], seen[k]
	}
	return nil
}

// choose picks what to publish and what to dead-letter: unseen first
// occurrences, up to maxPublish publishes.
func (b *batchRun) choose(maxPublish int) {
	b.limitAt = len(b.users)
	for i := range b.users {
		if b.first[i] != i || b.seen[i] {
			continue
		}
		if b.users[i].Problem != nil {
			b.dls = append(b.dls, deadLetter{idx: i, id: b.ids[i]})
			continue
		}
		if maxPublish > 0 && len(b.toPub) >= maxPublish {
			b.limitAt = i
			return
		}
		b.toPub = append(b.toPub, i)
	}
}

// publish publishes the chosen users and sorts the results: acknowledged,
// failed (the done prefix stops there), refused by the publisher (dead
// letters after all).
func (b *batchRun) publish() {
	if len(b.toPub) == 0 {
		return
	}
	results := b.p.pub.PublishUsers(b.ctx, b.pubUsers())
	if len(results) < len(b.toPub) {
		b.fail(fmt.Errorf("publish: %d results for %d users", len(results), len(b.toPub)))
	}
	var late []int // users the publisher refused: dead letters after all
	for j, r := range results[:min(len(results), len(b.toPub))] {
		i := b.toPub[j]
		switch {
		case !r.Acked && errors.Is(r.Err, publisher.ErrInvalidUser):
			late = append(late, i)
		case !r.Acked:
			b.fail(fmt.Errorf("publish %s: %w", b.ids[i], errOr(r.Err)))
			b.p.log.Warn("poller: publish failed; will retry", "user_id", b.users[i].UserID, "source", b.source, "err", r.Err)
		default:
			b.acked = append(b.acked, i)
			b.stored(i, r)
		}
	}
	b.addLate(late, results)
}

// pubUsers are the users to publish: the batch itself when every user is
// (the usual case), else a copy of the chosen ones.
func (b *batchRun) pubUsers() []auth0.User {
	if len(b.toPub) == len(b.users) {
		return b.users
	}
	us := make([]auth0.User, len(b.toPub))
	for j, i := range b.toPub {
		us[j] = b.users[i]
	}
	return us
}

// stored counts an acknowledged publish: a duplicate of the stream's, or
// newly stored (possibly truncated).
func (b *batchRun) stored(i int, r PublishResult) {
	if r.Duplicate {
		b.p.skipped(1)
		return
	}
	if r.Truncated {
		u := &b.users[i]
		b.p.m.Truncated()
		b.p.log.Warn("poller: user too large for one message; published truncated (auth0truncated)", "user_id", u.UserID, "source", b.source, "bytes", len(u.Raw))
	}
	b.published = append(b.published, i)
}

// addLate turns the users the publisher refused into dead letters (ids
// replaced by their dead-letter ids); those dead-lettered before count as
// handled.
func (b *batchRun) addLate(late []int, results []PublishResult) {
	more, err := b.p.lateDeadLetters(b.ctx, b.users, b.ids, late, results, b.toPub)
	if err != nil {
		b.fail(err)
	}
	for _, d := range more {
		if d.seen {
			b.handled[d.idx] = true
			continue
		}
		b.dls = append(b.dls, d)
	}
}

// ackDeadLetters publishes the batch's dead letters.
func (b *batchRun) ackDeadLetters() {
	b.acked = append(b.acked, b.p.deadLetter(b.ctx, b.source, b.users, b.dls, b.fail)...)
}

// mark marks every acknowledged id seen in one round trip; only then are
// they handled.
func (b *batchRun) mark() error {
	if len(b.acked) == 0 {
		return nil
	}
	ids := make([]string, len(b.acked))
	for k, i := range b.acked {
		ids[k] = b.ids[i]
	}
	if err := b.p.dd.Mark(b.ctx, ids); err != nil {
		return fmt.Errorf("dedupe mark: %w", err)
	}
	for _, i := range b.acked {
		b.handled[i] = true
	}
	return nil
}

// donePrefix is the length of the leading run of users that are seen,
// acknowledged (published or dead-lettered) or a repeat of one of those; it
// counts the skipped ones. A repeat of a user the publisher refused keeps
// the event id its first occurrence no longer has, so it ends the prefix
// (the retry dead-letters it as seen).
func (b *batchRun) donePrefix() int {
	done, skipped := 0, 0
	for i := 0; i < b.limitAt; i++ {
		f := b.first[i]
		if !b.handled[f] || b.ids[i] != b.ids[f] {
			break
		}
		if b.seen[f] || f != i {
			skipped++
		}
		done = i + 1
	}
	b.p.skipped(skipped)
	return done
}

// seen is dedupe.Seen of ids, in their order.
func (p *pipeline) seen(ctx context.Context, ids []string) ([]bool, error) {
	seen, err := p.dd.Seen(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("dedupe seen: %w", err)
	}
	return seen, nil
}

// countPublished records metrics and logs for the users newly stored; the
// metrics per run of users of one type.
func (p *pipeline) countPublished(ctx context.Context, source string, users []auth0.User, ids []string, published []int, res *batchResult) {
	if len(published) == 0 {
		return
	}
	// Checked once: a disabled Debug call still boxes its arguments.
	debug := p.log.Enabled(ctx, slog.LevelDebug)
	now := time.Now()
	res.published = len(published)
	res.publishedIDs = make([]string, 0, len(published))
	ats := make([]time.Time, 0, len(published))
	runKind := ""
	for _, i := range published {
		u := &users[i]
		res.publishedIDs = append(res.publishedIDs, ids[i])
		kind, evTime := publisher.KindOf(*u), publisher.EventTime(*u)
		if kind != runKind {
			p.m.Published(source, typeName(runKind), ats)
			runKind, ats = kind, ats[:0]
		}
		at, _ := parseCreatedAt(evTime)
		ats = append(ats, at)
		if at.Sub(now) > futureWarn {
			p.log.Warn("poller: event time lies in the future; published, cursors stay at the worker's clock", "user_id", u.UserID, "type", kind, "time", evTime, "source", source)
		}
		if debug {
			p.log.Debug("poller: event published", "user_id", u.UserID, "type", kind, "time", evTime, "source", source)
		}
	}
	p.m.Published(source, typeName(runKind), ats)
}

// typeName is an event type's metric label: user.created → created.
func typeName(kind string) string { return strings.TrimPrefix(kind, "user.") }

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
