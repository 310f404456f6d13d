package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/tracing"
)

// ErrAckTimeout means JetStream did not acknowledge a publish within
// Options.AckTimeout. The message may still have been stored: the caller
// publishes it again later and Nats-Msg-Id absorbs the duplicate.
var ErrAckTimeout = errors.New("no JetStream ack within the timeout")

// ErrInvalidOptions is matched by every error of New about its arguments.
var ErrInvalidOptions = errors.New("publisher: invalid options")

// Defaults of Options fields left zero.
const (
	DefaultAckTimeout        = 10 * time.Second
	DefaultAckAttemptTimeout = time.Second
	DefaultMaxInFlight       = 256
)

// Options configure a Publisher.
type Options struct {
	// Names gives the subject prefix and stream names (NamesFor(prefix));
	// required.
	Names Names
	// Source is the CloudEvents source, <base URL>/ (config Events.Source);
	// required.
	Source string
	// EventFields limits `data` to these top-level user fields (EVENT_FIELDS);
	// user_id and created_at are always kept. Default nil = the whole user.
	EventFields []string
	// AckTimeout bounds the wait for each message's ack, counted from its
	// first publish, re-sends included. Default DefaultAckTimeout.
	AckTimeout time.Duration
	// AckAttemptTimeout bounds one publish attempt: a message without an ack
	// by then is sent again (same Nats-Msg-Id, so JetStream stores it once)
	// until AckTimeout, and "no stream responded" is retried after 100ms.
	// This is what rides through a stream-leader election: the message lost
	// with the old leader is re-sent soon after the new one is elected
	// instead of waiting out AckTimeout. Default DefaultAckAttemptTimeout
	// (never above AckTimeout).
	AckAttemptTimeout time.Duration
	// MaxInFlight bounds the messages published and not yet acknowledged, over
	// all concurrent PublishUsers calls of this Publisher. Default
	// DefaultMaxInFlight. The JetStream context's own
	// WithPublishAsyncMaxPending (nats.go's default 4000) bounds it too;
	// JetStreamOpts gives matching settings.
	MaxInFlight int
	// Logger for debug lines; default slog.Default().
	Logger *slog.Logger
	// TracerProvider, if set, gets a span per PublishUsers batch and every
	// event its traceparent (trace.go); nil = no tracing, nothing added.
	TracerProvider trace.TracerProvider
}

func (o *Options) validate() error {
	switch {
	case o.Names.Prefix == "" || o.Names.Users == "":
		return errors.New("publisher: Options.Names is required (publisher.NamesFor(prefix))")
	case o.Source == "":
		return errors.New("publisher: Options.Source is required (the tenant base URL + \"/\")")
	case strings.ContainsAny(o.Source, " \t\r\n"):
		return fmt.Errorf("publisher: Options.Source %q contains whitespace", o.Source)
	}
	if err := limits.FirstBroken("publisher",
		limits.Bound{Name: "Options.AckTimeout", Value: o.AckTimeout, Broken: o.AckTimeout < 0, Want: "is negative"},
		limits.Bound{Name: "Options.AckAttemptTimeout", Value: o.AckAttemptTimeout, Broken: o.AckAttemptTimeout < 0, Want: "is negative"},
		limits.Bound{Name: "Options.MaxInFlight", Value: o.MaxInFlight, Broken: o.MaxInFlight < 0, Want: "is negative"},
	); err != nil {
		return err
	}
	for _, f := range o.EventFields {
		if f == "" || strings.ContainsAny(f, " \t\r\n.\"") {
			return fmt.Errorf("publisher: Options.EventFields: %q is not a top-level field name", f)
		}
	}
	limits.Fill(&o.AckTimeout, DefaultAckTimeout)
	limits.Fill(&o.AckAttemptTimeout, DefaultAckAttemptTimeout)
	o.AckAttemptTimeout = min(o.AckAttemptTimeout, o.AckTimeout)
	limits.Fill(&o.MaxInFlight, DefaultMaxInFlight)
	limits.Fill(&o.Logger, slog.Default())
	return nil
}

// JetStreamOpts are settings for the jetstream.JetStream a Publisher uses:
// the same bound on pending async publishes and an ack timeout, so the
// JetStream context drops futures whose ack never comes. Use them when
// creating the context: jetstream.New(nc, publisher.JetStreamOpts(o)...).
func JetStreamOpts(o Options) []jetstream.JetStreamOpt {
	_ = o.validate() // only for the defaults
	return []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncMaxPending(max(o.MaxInFlight, 1)),
		jetstream.WithPublishAsyncTimeout(o.AckTimeout),
	}
}

// Publisher publishes user.created CloudEvents to <prefix>.users.created.
// It is safe for concurrent use.
type Publisher struct {
	js       jetstream.JetStream
	o        Options
	subject  string    // <prefix>.users.created
	subjects [3]string // per kindIndex
	env      envelope
	slots    chan struct{} // MaxInFlight tokens
	tr       trace.Tracer  // nil: tracing off
}

// Result is the outcome of one user's publish.
type Result struct {
	// EventID is <user_id>@<created_at> ("" when the user was invalid).
	EventID string
	// Acked is true only when JetStream acknowledged the message: it is
	// stored (or was already, see Duplicate). Only acknowledged events may
	// be marked seen.
	Acked bool
	// Duplicate is true when JetStream recognised the Nats-Msg-Id within its
	// duplicate window and did not store the message again.
	Duplicate bool
	// Seq is the stream sequence of the stored message (of the original one
	// for a duplicate).
	Seq uint64
	// Err says why the message is not acknowledged: ErrInvalidUser,
	// ErrAckTimeout, the context's error, or JetStream's.
	Err error
	// Truncated: the user was too large for the server's max payload and
	// its event carries the reduced data and auth0truncated: true.
	Truncated bool
}

// New validates o and returns a Publisher. It does no I/O; create the
// streams with EnsureAll first.
func New(js jetstream.JetStream, o Options) (*Publisher, error) {
	if js == nil {
		return nil, limits.Invalid(ErrInvalidOptions, errors.New("publisher: nil JetStream"))
	}
	if err := o.validate(); err != nil {
		return nil, limits.Invalid(ErrInvalidOptions, err)
	}
	return &Publisher{
		js: js, o: o, subject: o.Names.UserCreatedSubject(),
		subjects: [3]string{o.Names.UserSubject(TypeCreated), o.Names.UserSubject(TypeUpdated), o.Names.UserSubject(TypeDeleted)},
		env:      newEnvelope(o.Source, o.EventFields),
		slots:    make(chan struct{}, o.MaxInFlight),
		tr:       tracing.Tracer(o.TracerProvider, "publisher"),
	}, nil
}

// Subject is the event subject, <prefix>.users.created.
func (p *Publisher) Subject() string { return p.subject }

// Envelope returns the event id and the exact message body PublishUsers
// would send for u (for tests, dev printouts and benchmarks).
func (p *Publisher) Envelope(u auth0.User) (string, []byte, error) { return p.env.build(u, "") }

type pending struct {
	idx      int
	msg      *nats.Msg
	fut      jetstream.PubAckFuture // nil: to be re-sent at deadline
	ok       <-chan *jetstream.PubAck
	errc     <-chan error
	deadline time.Time // of this attempt, or when to re-send
	final    time.Time // AckTimeout after the first publish
	lastErr  error     // why the previous attempt failed
}

// retryPause is the wait before re-sending after "no stream responded" (a
// stream without a leader, for a moment, during an election).
const retryPause = 100 * time.Millisecond

// retryable errors are those of a stream that has no leader for a moment,
// or of a connection moving to another server (nats.go fails the pending
// acks of a dropped connection with ErrDisconnected).
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		(errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.ErrorCode == errCodeDuplicateInProcess))
}

// errCodeDuplicateInProcess is a clustered stream's 409 "duplicate message id
// is in process": another publish of the same Nats-Msg-Id (the same event
// from a second source, e.g. SSE and the receiver at once) is still being
// stored. Asked again a moment later, JetStream answers with the duplicate's
// ack; failing instead would make the receiver answer 503 for nothing.
const errCodeDuplicateInProcess jetstream.ErrorCode = 10158

// attempt sends q.msg again, or schedules a re-send when sending fails.
func (p *Publisher) attempt(q pending) pending {
	now := time.Now()
	q.ok, q.errc = nil, nil
	fut, err := p.js.PublishMsgAsync(q.msg)
	if err != nil {
		q.fut, q.lastErr, q.deadline = nil, err, minTime(now.Add(retryPause), q.final)
		return q
	}
	q.fut, q.deadline = fut, minTime(now.Add(p.o.AckAttemptTimeout), q.final)
	return q
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// PublishUsers publishes one event per user (of its Kind: created, updated
// or deleted, each on its subject) with async JetStream publishes,
// at most MaxInFlight unacknowledged at a time, and waits for every ack (or
// AckTimeout per message, or ctx). Results are in input order. A result is
// Acked only on a real JetStream ack: a timeout, a disconnect or a cancelled
// context is an error, never an ack, even when the message may have been
// stored; the caller retries and Nats-Msg-Id absorbs the repeat.
func (p *Publisher) PublishUsers(ctx context.Context, users []auth0.User) []Result {
	results := make([]Result, len(users))
	if len(users) == 0 {
		return results
	}
	// Build every message first, then publish in a tight loop: the NATS
	// client's flusher then writes large batches instead of one small write
	// per event interleaved with JSON work.
	span, tp := p.startBatch(ctx, len(users))
	defer func() { endBatch(span, results) }()
	limit := p.maxPayload() - traceHeaderBytes(tp)
	msgs := make([]*nats.Msg, len(users))
	for i, u := range users {
		id, body, err := p.env.build(u, tp)
		if err == nil && len(body)+headerBytes(id) > limit {
			// Too large to publish whole (README "Bad data").
			id, body, err = p.env.truncated(u, tp)
			results[i].Truncated = true
			if err == nil && len(body)+headerBytes(id) > limit {
				err = fmt.Errorf("%w: user %s: %d bytes even truncated, over the max payload %d", ErrInvalidUser, u.UserID, len(body), limit)
			}
		}
		results[i].EventID = id
		if err != nil {
			results[i].Err = err
			continue
		}
		msgs[i] = &nats.Msg{Subject: p.subjects[kindIndex(u)], Data: body, Header: nats.Header{
			jetstream.MsgIDHeader: []string{id},
			"Content-Type":        []string{ContentType},
		}}
		if tp != "" {
			msgs[i].Header[tracing.HeaderTraceparent] = []string{tp}
		}
	}
	p.publishAll(ctx, msgs, results)
	return results
}

// maxPayload is the server's max payload (headers and data together), 1 MB
// when unknown.
func (p *Publisher) maxPayload() int {
	if nc := p.js.Conn(); nc != nil {
		if n := nc.MaxPayload(); n > 0 {
			return int(n)
		}
	}
	return 1 << 20
}

// headerBytes is an upper bound of the wire size of an event's headers.
func headerBytes(id string) int {
	return len("NATS/1.0\r\n") + len(jetstream.MsgIDHeader) + len(id) + len("Content-Type") + len(ContentType) + 64
}

// publishAll publishes msgs (nil entries are skipped: their results already
// hold an error) with at most MaxInFlight unacknowledged, and fills results.
func (p *Publisher) publishAll(ctx context.Context, msgs []*nats.Msg, results []Result) {
	run := &publishRun{p: p, ctx: ctx, results: results,
		queue: make([]pending, 0, min(len(msgs), p.o.MaxInFlight)), timer: time.NewTimer(time.Hour)}
	run.timer.Stop()
	defer run.timer.Stop()
	for i, msg := range msgs {
		if msg == nil {
			continue
		}
		id := results[i].EventID
		if !run.acquire() {
			results[i].Err = fmt.Errorf("publish %s: %w", id, ctx.Err())
			continue
		}
		now := time.Now()
		q := pending{idx: i, msg: msg, final: now.Add(p.o.AckTimeout)}
		fut, err := p.js.PublishMsgAsync(msg)
		switch {
		case err == nil:
			q.fut, q.deadline = fut, now.Add(p.o.AckAttemptTimeout)
		case retryable(err):
			q.lastErr, q.deadline = err, minTime(now.Add(retryPause), q.final)
		default:
			run.release()
			results[i].Err = fmt.Errorf("publish %s: %w", id, err)
			continue
		}
		run.queue = append(run.queue, q)
	}
	for len(run.queue) > 0 {
		run.waitHead(false)
	}
}

// publishRun is one publishAll: the publishes awaiting their ack, oldest
// first, and one timer for the oldest one's deadline.
type publishRun struct {
	p       *Publisher
	ctx     context.Context
	results []Result
	queue   []pending
	timer   *time.Timer
	armed   time.Time // deadline the timer is set for
}

func (r *publishRun) arm(d time.Time) {
	if d.Equal(r.armed) {
		return
	}
	r.timer.Stop()
	r.timer.Reset(time.Until(d))
	r.armed = d
}

func (r *publishRun) release() { <-r.p.slots }

// done records the outcome of publish q and frees its slot.
func (r *publishRun) done(q pending, ack *jetstream.PubAck, err error) {
	res := &r.results[q.idx]
	if err != nil {
		res.Err = fmt.Errorf("publish %s: %w", res.EventID, err)
	} else {
		res.Acked, res.Duplicate, res.Seq = true, ack.Duplicate, ack.Sequence
	}
	r.release()
}

// retry re-queues q (keeping its slot) while AckTimeout allows: at once
// after an attempt without an ack (same Nats-Msg-Id, so a late ack of the
// first is harmless), after retryPause when no stream responded.
func (r *publishRun) retry(q pending, cause error) {
	now := time.Now()
	switch {
	case !now.Before(q.final):
		if cause == ErrAckTimeout && q.lastErr != nil && q.fut == nil {
			cause = q.lastErr
		}
		r.done(q, nil, cause)
		return
	case q.fut == nil || cause == ErrAckTimeout: // re-send time, or an attempt without an ack
		q = r.p.attempt(q)
	default: // no stream responded: wait a moment
		q.fut, q.lastErr, q.deadline = nil, cause, minTime(now.Add(retryPause), q.final)
	}
	r.queue = append(r.queue, q)
}

// acquire takes an in-flight slot, resolving pending acks while none is
// free; false (holding no slot) once ctx has ended.
func (r *publishRun) acquire() bool {
	if r.ctx.Err() != nil {
		return false
	}
	got := false
	select { // fast path: a free slot, no need to look at pending acks
	case r.p.slots <- struct{}{}:
		got = true
	default:
	}
	for !got && r.ctx.Err() == nil {
		got = r.waitHead(true)
	}
	if r.ctx.Err() != nil {
		if got {
			r.release()
		}
		return false
	}
	return true
}

// waitHead resolves the oldest pending publish; with acquire it may
// instead take a free slot (returns true then).
func (r *publishRun) waitHead(acquire bool) (gotSlot bool) {
	var slots chan struct{}
	if acquire {
		slots = r.p.slots
	}
	var head pending
	var ok <-chan *jetstream.PubAck
	var errc <-chan error
	var tc <-chan time.Time
	if len(r.queue) > 0 {
		if r.queue[0].ok == nil && r.queue[0].fut != nil { // once per attempt: each call takes the JetStream client's lock
			r.queue[0].ok, r.queue[0].errc = r.queue[0].fut.Ok(), r.queue[0].fut.Err()
		}
		head = r.queue[0]
		ok, errc = head.ok, head.errc
		r.arm(head.deadline)
		tc = r.timer.C
	}
	select {
	case slots <- struct{}{}:
		return true
	case ack := <-ok:
		r.done(head, ack, nil)
	case err := <-errc:
		if retryable(err) {
			r.retry(head, err)
		} else {
			r.done(head, nil, err)
		}
	case <-tc:
		r.armed = time.Time{}
		r.retry(head, ErrAckTimeout)
	case <-r.ctx.Done():
		if len(r.queue) == 0 {
			return false
		}
		r.done(head, nil, r.ctx.Err())
	}
	r.queue = r.queue[1:]
	return false
}
