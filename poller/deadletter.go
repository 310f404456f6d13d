package poller

import (
	"context"
	"errors"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// deadLetter is an unusable user of a batch on its way to
// <prefix>.dlq.users.invalid (README "Bad data").
type deadLetter struct {
	idx  int    // index in the batch
	id   string // publisher.InvalidID
	seen bool   // already dead-lettered within DEDUPE_TTL
	// reason and detail override the user's Problem (a user the publisher
	// refused).
	reason, detail string
}

// reasonUnpublishable is the Dlq-Reason of a user that passed decoding but
// cannot become an event even truncated (say, a user_id of a megabyte).
const reasonUnpublishable = "unpublishable"

// deadLetter publishes the batch's dead letters and returns the batch
// indexes of those acknowledged; failures go to fail (the batch's done
// prefix stops there).
func (p *pipeline) deadLetter(ctx context.Context, source string, users []auth0.User, dls []deadLetter, fail func(error)) []int {
	if len(dls) == 0 {
		return nil
	}
	msgs := make([]publisher.DeadLetter, len(dls))
	for k, d := range dls {
		u := users[d.idx]
		reason, detail := d.reason, d.detail
		if reason == "" && u.Problem != nil {
			reason, detail = u.Problem.Reason, u.Problem.Error()
		}
		msgs[k] = publisher.DeadLetter{ID: d.id, Reason: reason, Source: source, Detail: detail, Body: u.Raw}
	}
	results := p.pub.PublishDeadLetters(ctx, msgs)
	var acked []int
	for k, r := range results {
		if k >= len(dls) {
			break
		}
		u, m := users[dls[k].idx], msgs[k]
		if !r.Acked {
			fail(errors.Join(errors.New("dead letter "+m.ID), errOr(r.Err)))
			p.log.Warn("poller: dead letter not published; will retry", "user_id", u.UserID, "reason", m.Reason, "source", source, "err", r.Err)
			continue
		}
		acked = append(acked, dls[k].idx)
		if !r.Duplicate {
			p.m.Invalid(m.Reason)
			p.log.Warn("poller: unusable user dead-lettered", "user_id", u.UserID, "reason", m.Reason, "detail", m.Detail, "source", source, "dlq_id", m.ID)
		}
	}
	if len(results) < len(dls) {
		fail(errors.New("dead letters: fewer results than messages"))
	}
	return acked
}

// lateDeadLetters turns users the publisher refused (publisher.ErrInvalidUser
// after decoding passed them) into dead letters, looking their ids up first
// so each is dead-lettered once per DEDUPE_TTL. Rare: one extra round trip.
func (p *pipeline) lateDeadLetters(ctx context.Context, users []auth0.User, ids []string, late []int, results []PublishResult, toPubIdx []int) ([]deadLetter, error) {
	if len(late) == 0 {
		return nil, nil
	}
	errs := make(map[int]error, len(late))
	for j, i := range toPubIdx {
		if j < len(results) {
			errs[i] = results[j].Err
		}
	}
	out := make([]deadLetter, 0, len(late))
	lookup := make([]string, 0, len(late))
	for _, i := range late {
		id := publisher.InvalidID(users[i])
		ids[i] = id
		detail := ""
		if errs[i] != nil {
			detail = errs[i].Error()
		}
		out = append(out, deadLetter{idx: i, id: id, reason: reasonUnpublishable, detail: detail})
		lookup = append(lookup, id)
	}
	seen, err := p.seen(ctx, lookup)
	if err != nil {
		return nil, err
	}
	for k := range out {
		out[k].seen = seen[k]
	}
	return out, nil
}

// oversized dead-letters Events API messages too large to read (README
// "Bad data"): Dlq-Reason sse_message_too_large, Dlq-Offset, empty body; each once
// per DEDUPE_TTL (its id is marked seen). Their offsets then count as
// handled; reconcile, when on, publishes a created user it finds later.
func (p *pipeline) oversized(ctx context.Context, source string, offsets []string) error {
	ids := make([]string, len(offsets))
	for i, off := range offsets {
		ids[i] = publisher.OversizedID(off)
	}
	seen, err := p.seen(ctx, ids)
	if err != nil {
		return err
	}
	var msgs []publisher.DeadLetter
	for i, off := range offsets {
		if !seen[i] {
			msgs = append(msgs, publisher.DeadLetter{ID: ids[i], Reason: publisher.ReasonSSEMessageTooLarge, Source: source, Offset: off})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	var acked []string
	var firstErr error
	for k, r := range p.pub.PublishDeadLetters(ctx, msgs) {
		if !r.Acked {
			if firstErr == nil {
				firstErr = errors.Join(errors.New("dead letter "+msgs[k].ID), errOr(r.Err))
			}
			continue
		}
		acked = append(acked, msgs[k].ID)
		if !r.Duplicate {
			p.m.Invalid(publisher.ReasonSSEMessageTooLarge)
			p.log.Warn("poller: events message over the size limit dead-lettered", "offset", msgs[k].Offset, "source", source)
		}
	}
	if len(acked) > 0 {
		if err := p.dd.Mark(ctx, acked); err != nil {
			return err
		}
	}
	return firstErr
}
