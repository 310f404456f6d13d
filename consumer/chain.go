package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// The durable transport handles a message with a chain of small steps, in
// the manner of Watermill's message middleware (Recoverer, PoisonQueue,
// Retry). Each step is a durableMiddleware with a comment saying what it
// guarantees; durableChain assembles them in one place, outermost first.
// A step either settles the message itself (ack, term, nak) and returns
// nil, or passes it on; what the inner steps return tells the outer ones
// what is left to do:
//
//   - nil: settled;
//   - a *poison: dead-letter it (poisonQueue);
//   - a transient *Error: nak it for a later attempt (retryOrNak).

// delivery is one durable message on its way through the chain.
type delivery struct {
	msg        jetstream.Msg
	cmd        *Command // the table's entry; set by checkEnvelope
	command    string   // the subject without <prefix>.cmd.
	id         string   // the command id (Nats-Msg-Id)
	ref        keyRef
	hash       string // bodyHash of the body, for the outcome binding
	deliveries int
	since      time.Time // when JetStream stored the command
	start      time.Time
	span       trace.Span // the command's span (a no-op one when tracing is off)
	log        *slog.Logger
	hb         *heartbeat
	// bg settles the message: its calls must complete even after the
	// Run context ends (shutdown).
	bg context.Context
}

// durableHandler takes a delivery one step further; see the list above
// for what its error means.
type durableHandler func(ctx context.Context, d *delivery) error

// durableMiddleware wraps a handler with one step.
type durableMiddleware func(next durableHandler) durableHandler

// poison is a message no attempt can settle: it is dead-lettered.
type poison struct{ reason string }

func (p *poison) Error() string { return "dead letter: " + p.reason }

// durableChain is the whole of durable handling, outermost step first.
func (c *Consumer) durableChain() durableHandler {
	steps := []durableMiddleware{
		c.recoverer,     // a panic never kills the process
		c.describe,      // metadata, log fields; heartbeat while held
		c.poisonQueue,   // *poison → dead letter
		c.checkEnvelope, // command id, subject, header values
		c.retryOrNak,    // transient failure → nak with delay, or poison at the last delivery
		c.storedOutcome, // an outcome already stored → re-published, not executed again
		c.maxDeliveries, // a crash during the last attempt → poison
		c.validateBody,  // an invalid body → a stored, published 400
		c.inFlightLock,  // one attempt at a time per command id
	}
	h := durableHandler(c.executeDurable)
	for i := len(steps) - 1; i >= 0; i-- {
		h = steps[i](h)
	}
	return h
}

// handleSafe takes one durable command to a settled state: acked (with
// its outcome stored and published), dead-lettered and terminated, or
// nak'ed for a later attempt. It never panics (recoverer).
func (c *Consumer) handleSafe(ctx context.Context, msg jetstream.Msg) {
	command := strings.TrimPrefix(msg.Subject(), c.names.Prefix+".cmd.")
	if c.cmds.on(TransportDurable, command) == nil {
		command = "unknown" // the subject is the sender's: no span name from it (dead-lettered below)
	}
	ctx, span := c.startSpan(ctx, "cmd", command, msg.Headers())
	defer span.End()
	_ = c.durable(ctx, &delivery{msg: msg, start: time.Now(), span: span, bg: context.WithoutCancel(ctx)})
}

// recoverer keeps a bug in the durable path from killing the process: the
// message is nak'ed and comes back (and is dead-lettered at the limit).
func (c *Consumer) recoverer(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) (err error) {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("durable handler panicked", "subject", d.msg.Subject(), "command_id", d.msg.Headers().Get(HeaderMsgID),
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				_ = d.msg.NakWithDelay(c.o.RetryBase)
				err = nil
			}
		}()
		return next(ctx, d)
	}
}

// describe fills the delivery from the message (a message without
// JetStream metadata is terminated) and holds the message while the rest
// runs: InProgress every AckWait/3, and the in-flight lock kept alive.
func (c *Consumer) describe(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		md, err := d.msg.Metadata()
		if err != nil {
			c.log.Error("durable message without metadata", "subject", d.msg.Subject(), "err", err)
			_ = d.msg.Term()
			return nil
		}
		d.command = strings.TrimPrefix(d.msg.Subject(), c.names.Prefix+".cmd.")
		d.id = d.msg.Headers().Get(HeaderMsgID)
		d.deliveries, d.since = int(md.NumDelivered), md.Timestamp
		d.log = c.log.With("command_id", d.id, "command", d.command, "delivery", d.deliveries)
		d.ref, d.hash = c.cmdRef(d.id), bodyHash(d.msg.Data())
		d.hb = c.startHeartbeat(d.msg, d.ref)
		defer d.hb.end()
		return next(ctx, d)
	}
}

// poisonQueue dead-letters what the inner steps call poison: the body
// (secrets redacted) and headers plus Dlq-Reason, Dlq-Subject and
// Dlq-Deliveries, then the message is terminated (deadLetter).
func (c *Consumer) poisonQueue(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		err := next(ctx, d)
		if p, ok := err.(*poison); ok {
			c.deadLetter(d, p.reason)
			return nil
		}
		return err
	}
}

// checkEnvelope lets through only a valid command id on a subject of a
// command the table accepts durably; header values with a control
// character end as a stored 400 (nothing reaches Auth0).
func (c *Consumer) checkEnvelope(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		if !ValidID(d.id) {
			return &poison{fmt.Sprintf("invalid command id: header %s must match [A-Za-z0-9_-]{1,128}", HeaderMsgID)}
		}
		if d.cmd = c.cmds.on(TransportDurable, d.command); d.cmd == nil {
			return &poison{fmt.Sprintf("unknown command subject %s (want %s)", d.msg.Subject(), c.cmds.durableList(c.names.Prefix))}
		}
		if e := checkHeaderValues(d.msg.Headers()); e != nil {
			c.settleInvalid(d, e)
			return nil
		}
		return next(ctx, d)
	}
}

// retryOrNak turns a transient failure into a later attempt: nak'ed with
// retryDelay (Auth0's reset time when it gave one), at once when the
// worker is shutting down, and poison once COMMAND_MAX_DELIVER attempts
// are used up.
func (c *Consumer) retryOrNak(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		err := next(ctx, d)
		e, ok := err.(*Error)
		switch {
		case !ok:
			return err
		case e.Code == CodeShuttingDown:
			_ = d.msg.Nak()
		case d.deliveries >= c.o.MaxDeliver:
			return &poison{fmt.Sprintf("gave up after %d attempts (COMMAND_MAX_DELIVER): %s", d.deliveries, e.Message)}
		default:
			delay := c.retryDelay(e, d.deliveries)
			d.log.Info("transient failure; retrying later", "status", e.Status, "code", e.Code, "delay", delay)
			_ = d.msg.NakWithDelay(delay)
		}
		return nil
	}
}

// storedOutcome answers a command whose outcome is stored by re-publishing
// that outcome: a command id is executed at most once (a reused id with
// another command or body gets 409 and is dead-lettered).
func (c *Consumer) storedOutcome(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		if c.replayStored(d) {
			return nil
		}
		return next(ctx, d)
	}
}

// maxDeliveries stops a command delivered more often than
// COMMAND_MAX_DELIVER without an outcome (a crash during its last allowed
// attempt): no further attempt, a dead letter.
func (c *Consumer) maxDeliveries(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		if d.deliveries > c.o.MaxDeliver {
			return &poison{fmt.Sprintf("no outcome after %d deliveries (COMMAND_MAX_DELIVER %d)", d.deliveries, c.o.MaxDeliver)}
		}
		return next(ctx, d)
	}
}

// validateBody decodes the body with the command's own decoder: an invalid
// one is a permanent 400, stored, published and dead-lettered before any
// lock or Auth0 call.
func (c *Consumer) validateBody(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		if verr := d.cmd.Handler.validate(d.msg.Data()); verr != nil {
			c.settleInvalid(d, classify(context.Background(), d.command, verr))
			return nil
		}
		return next(ctx, d)
	}
}

// settleInvalid settles a command refused before execution (e a 400):
// stored, published, dead-lettered, counted.
func (c *Consumer) settleInvalid(d *delivery, e *Error) {
	c.settlePermanent(d, bind(errorOutcome(e), d.command, d.hash))
	c.record(d.command, "cmd", strconv.Itoa(e.Status), time.Since(d.start))
}

// inFlightLock runs the rest holding the command id's in-flight lock, so
// two deliveries of one command never execute at once. Another holder (a
// slow first delivery, or a crashed one whose lock has not expired) is
// waited for; an outcome it stored meanwhile is re-published instead of
// executing. The lock is released when the inner steps return (before a
// nak), and kept alive by the heartbeat while held.
func (c *Consumer) inFlightLock(next durableHandler) durableHandler {
	return func(ctx context.Context, d *delivery) error {
		lockVal, settled := c.takeLock(ctx, d)
		if settled {
			return nil
		}
		d.hb.setLock(lockVal)
		defer func() { d.hb.setLock(""); _ = c.st.release(d.bg, d.ref, lockVal) }()
		// Between get and lock an attempt elsewhere may have finished.
		if c.replayStored(d) {
			return nil
		}
		return next(ctx, d)
	}
}

// takeLock takes the in-flight lock, waiting while another attempt holds
// it. settled reports that the message was nak'ed (Redis trouble past the
// shutdown grace, or shutdown while waiting) or answered from an outcome
// the other attempt stored.
func (c *Consumer) takeLock(ctx context.Context, d *delivery) (lockVal string, settled bool) {
	for {
		var ok bool
		if err := c.retrying(d.log, "take the in-flight lock", 0, func(ctx context.Context) (err error) {
			lockVal, ok, err = c.st.lock(ctx, d.ref, c.o.AckWait)
			return err
		}); err != nil {
			_ = d.msg.Nak()
			return "", true
		}
		if ok {
			return lockVal, false
		}
		if err := c.waitUnlocked(ctx, d.ref); err != nil {
			_ = d.msg.Nak()
			return "", true
		}
		if c.replayStored(d) {
			return "", true
		}
	}
}

// executeDurable runs the command under the shared semaphore within
// COMMAND_TIMEOUT and settles what is permanent: a success is stored,
// published on <prefix>.results.<id> and double-acked (a success too large
// to publish follows the reply-size rule); a permanent error is stored,
// published and dead-lettered. A transient error is returned for
// retryOrNak.
func (c *Consumer) executeDurable(ctx context.Context, d *delivery) error {
	if err := c.acquire(ctx); err != nil {
		_ = d.msg.Nak()
		return nil
	}
	ectx, cancel := context.WithTimeout(withSpan(c.execCtx, d.span), c.o.Timeout)
	body, e := c.x.execute(ectx, d.command, d.msg.Data(), attempt{redelivery: d.deliveries > 1, since: d.since})
	cancel()
	c.releaseSlot()
	if e != nil {
		c.record(d.command, "cmd", strconv.Itoa(e.Status), time.Since(d.start))
		if e.Transient {
			return e
		}
		c.settlePermanent(d, bind(errorOutcome(e), d.command, d.hash))
		return nil
	}
	o := bind(fitOutcome(d.cmd, d.msg.Data(), successOutcome(body), c.o.NC.MaxPayload()), d.command, d.hash)
	if !o.OK() { // a read too large to publish: a permanent 413
		c.record(d.command, "cmd", strconv.Itoa(o.Status), time.Since(d.start))
		c.settlePermanent(d, o)
		return nil
	}
	c.record(d.command, "cmd", "ok", time.Since(d.start))
	c.settleSuccess(d, o)
	return nil
}

// settleSuccess stores o, publishes it and double-acks. A store that fails
// past the shutdown grace naks at once (the redelivery executes again; a
// create then meets 409 and finds the user this attempt created); a
// publish that fails naks with delay (the redelivery re-publishes).
func (c *Consumer) settleSuccess(d *delivery, o Outcome) {
	if err := c.retrying(d.log, "store the outcome", 0, func(ctx context.Context) error { return c.st.put(ctx, d.ref, o) }); err != nil {
		_ = d.msg.Nak()
		return
	}
	if err := c.retrying(d.log, "publish the outcome", publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, d, o) }); err != nil {
		c.nakLater(d)
		return
	}
	if err := d.msg.DoubleAck(d.bg); err != nil {
		d.log.Warn("ack failed; a redelivery will re-publish the stored outcome", "err", err)
	}
}
