package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
)

// Settling a durable message: re-publishing a stored outcome, storing and
// publishing a permanent one, dead-lettering, and the retries and nak
// delays these use. The steps of chain.go call them.

// replayStored re-publishes a stored outcome instead of executing again.
// It reports whether the message is settled.
func (c *Consumer) replayStored(d *delivery) bool {
	var o Outcome
	found := false
	if err := c.retrying(d.log, "read the stored outcome", 0, func(ctx context.Context) error {
		var err error
		o, err = c.st.get(ctx, d.ref)
		if errors.Is(err, errNoOutcome) {
			return nil
		}
		found = err == nil
		return err
	}); err != nil {
		_ = d.msg.Nak()
		return true
	}
	if !found {
		return false
	}
	if e := reuseError(o, d.command, d.hash); e != nil {
		// Another command or body under a used id: answer 409, keep the
		// stored outcome as it is.
		d.log.Warn("command id reused with another command or body; not executed")
		if c.publishOutcome(d, "publish the outcome", errorOutcome(e)) {
			c.deadLetter(d, e.Message)
		}
		return true
	}
	d.log.Info("outcome already stored; re-publishing it without executing")
	if !c.publishOutcome(d, "re-publish the outcome", o) {
		return true
	}
	if o.OK() {
		_ = d.msg.DoubleAck(d.bg)
		return true
	}
	// Re-dead-letter (deduplicated by the DLQ stream on Nats-Msg-Id) in
	// case the crash came between storing and dead-lettering.
	c.deadLetter(d, o.Error)
	return true
}

// settlePermanent stores and publishes a permanent error, then dead-letters.
func (c *Consumer) settlePermanent(d *delivery, o Outcome) {
	if err := c.retrying(d.log, "store the outcome", 0, func(ctx context.Context) error { return c.st.put(ctx, d.ref, o) }); err != nil {
		_ = d.msg.Nak()
		return
	}
	if c.publishOutcome(d, "publish the outcome", o) {
		c.deadLetter(d, o.Error)
	}
}

// publishOutcome publishes o on <prefix>.results.<id>, at most
// publishAttempts tries; when they fail the message is nak'ed with delay
// (its redelivery re-publishes the stored outcome) and false returned.
func (c *Consumer) publishOutcome(d *delivery, what string, o Outcome) bool {
	if err := c.retrying(d.log, what, publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, d, o) }); err != nil {
		c.nakLater(d)
		return false
	}
	return true
}

func (c *Consumer) publishResult(ctx context.Context, d *delivery, o Outcome) error {
	id := d.id
	m := o.Msg(c.ResultSubject(id))
	m.Header.Set(HeaderMsgID, id)
	injectSpan(m, d.span)
	spanOutcome(d.span, o)
	if _, err := c.o.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish outcome of %s: %w", id, err)
	}
	return nil
}

// publishAttempts bounds the tries of one publish (outcome, dead letter)
// while the message is held: then it is nak'ed with delay, so no worker ever
// waits forever on one message (README "Commands", reply size).
const publishAttempts = 4

// nakLater gives the message back after the usual backoff.
func (c *Consumer) nakLater(d *delivery) {
	_ = d.msg.NakWithDelay(c.retryDelay(&Error{}, d.deliveries))
}

// retrying runs fn until it succeeds, holding the message (InProgress goes
// on) so that Redis or JetStream trouble does not burn the command's
// deliveries. Each try has 5s; between tries it backs off exponentially
// from RetryBase to RetryMax (backoff.ExponentialBackOff, no jitter). It
// gives up after attempts tries (0 = no limit) or when the shutdown grace
// ends (execCtx), returning the last error.
func (c *Consumer) retrying(log *slog.Logger, what string, attempts int, fn func(context.Context) error) error {
	var b backoff.BackOff = backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.o.RetryBase), backoff.WithMaxInterval(c.o.RetryMax),
		backoff.WithMultiplier(2), backoff.WithRandomizationFactor(0), backoff.WithMaxElapsedTime(0))
	if attempts > 0 {
		b = backoff.WithMaxRetries(b, uint64(attempts-1))
	}
	tries := 0
	var last error
	op := func() error {
		tries++
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last = fn(actx)
		return last
	}
	notify := func(err error, _ time.Duration) {
		if tries == 1 {
			log.Warn(what+" failed; retrying while holding the message", "err", err)
		}
	}
	if backoff.RetryNotify(op, backoff.WithContext(b, c.execCtx), notify) == nil {
		if tries > 1 {
			log.Info(what + ": succeeded after retries")
		}
		return nil
	}
	if c.execCtx.Err() != nil {
		log.Error(what+" failed; giving the message back", "err", last)
	} else {
		log.Error(what+" failed; giving the message back for later", "attempts", attempts, "err", last)
	}
	return fmt.Errorf("%s: %w", what, last)
}

// deadLetter publishes the original body and headers plus Dlq-Reason,
// Dlq-Subject and Dlq-Deliveries on <prefix>.dlq.<...>, then terminates the
// message. If the publish fails the message is nak'ed (it comes back and is
// dead-lettered then).
func (c *Consumer) deadLetter(d *delivery, reason string) {
	msg := d.msg
	m := nats.NewMsg(c.DLQSubject(msg.Subject()))
	for k, v := range msg.Headers() {
		m.Header[k] = slices.Clone(v)
	}
	m.Header.Set(HeaderDlqReason, oneLine(reason))
	m.Header.Set(HeaderDlqSubject, msg.Subject())
	m.Header.Set(HeaderDlqDeliveries, strconv.Itoa(d.deliveries))
	// The sender re-supplies passwords and secrets when it re-publishes.
	m.Data = redactBody(msg.Data(), dlqSecrets)
	if err := c.retrying(d.log, "publish the dead letter", publishAttempts, func(ctx context.Context) error {
		_, err := c.o.JS.PublishMsg(ctx, m)
		return err
	}); err != nil {
		c.nakLater(d) // it comes back and is dead-lettered then
		return
	}
	if c.m != nil {
		// Subjects are caller-chosen: the table bounds the label values.
		c.m.DLQ.WithLabelValues(c.cmds.label(TransportDurable, d.command)).Inc()
	}
	c.log.Warn("command dead-lettered", "command_id", msg.Headers().Get(HeaderMsgID), "subject", msg.Subject(), "reason", oneLine(reason), "deliveries", d.deliveries)
	_ = msg.Term()
}

// retryDelay is the nak delay of a transient failure: Auth0's reset time
// when it gave one (plus up to 250ms, so a burst does not return at the
// same instant), else RetryBase doubled per delivery up to RetryMax, ±10 %
// (the deliveries-th interval of a backoff.ExponentialBackOff).
func (c *Consumer) retryDelay(e *Error, deliveries int) time.Duration {
	if !e.RetryAt.IsZero() {
		if d := time.Until(e.RetryAt); d > 0 {
			return d + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
		}
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.o.RetryBase), backoff.WithMaxInterval(c.o.RetryMax),
		backoff.WithMultiplier(2), backoff.WithRandomizationFactor(0.1), backoff.WithMaxElapsedTime(0))
	d := b.NextBackOff()
	for i := 1; i < min(deliveries, 64); i++ {
		d = b.NextBackOff()
	}
	return d
}
