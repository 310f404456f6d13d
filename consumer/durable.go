package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/publisher"
)

// CommandSubject is <prefix>.cmd.<command>.
func (c *Consumer) CommandSubject(command string) string {
	return c.names.Prefix + ".cmd." + command
}

// ResultSubject is <prefix>.results.<command id>.
func (c *Consumer) ResultSubject(id string) string {
	return c.names.Prefix + ".results." + id
}

// DLQSubject is <prefix>.dlq.<subject without the prefix>.
func (c *Consumer) DLQSubject(subject string) string {
	return c.names.Prefix + ".dlq." + strings.TrimPrefix(subject, c.names.Prefix+".")
}

// ConsumerConfig is the durable consumer's configuration. MaxDeliver is
// unlimited: the worker counts attempts itself so that the last one still
// ends in the dead-letter stream.
func (c *Consumer) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.o.Durable,
		Description:   "auth0-worker durable commands",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.o.AckWait,
		MaxDeliver:    -1,
		FilterSubject: c.names.Prefix + ".cmd.>",
		MaxAckPending: 1000,
	}
}

func (c *Consumer) setupDurable(ctx context.Context) (jetstream.Consumer, error) {
	so := c.o.StreamOptions
	for _, cfg := range []jetstream.StreamConfig{c.names.CommandsStream(so), c.names.ResultsStream(so), c.names.DLQStream(so)} {
		if _, err := publisher.EnsureStream(ctx, c.o.JS, cfg, c.o.Logger); err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
	}
	cons, err := c.o.JS.CreateOrUpdateConsumer(ctx, c.names.Commands, c.ConsumerConfig())
	if err != nil {
		return nil, fmt.Errorf("consumer: durable consumer %s on %s: %w", c.o.Durable, c.names.Commands, err)
	}
	return cons, nil
}

// The durable pull: each request waits up to fetchWait for a message; the
// consumer's leader sends a heartbeat every fetchHeartbeat, so a request
// lost with a crashed leader is noticed after two missed heartbeats, not at
// its expiry.
const (
	fetchWait      = 5 * time.Second
	fetchHeartbeat = 500 * time.Millisecond
)

// durableWorker fetches one message at a time: a message is only taken
// when this worker can look after it (InProgress from the first moment),
// so none waits unattended in a client buffer while its AckWait runs out.
// Through a consumer-leader election it keeps pulling: a leadership change,
// a leader shutting down or lost heartbeats mean "pull again" (after
// 100ms), other failures wait a second.
func (c *Consumer) durableWorker(ctx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		msg, err := cons.Next(jetstream.FetchContext(fctx), jetstream.FetchHeartbeat(fetchHeartbeat))
		cancel()
		if err == nil {
			c.handleSafe(ctx, msg)
			continue
		}
		pause := time.Second
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded):
			continue
		case errors.Is(err, jetstream.ErrConsumerLeadershipChanged) || errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, jetstream.ErrNoHeartbeat):
			c.log.Debug("durable fetch interrupted; pulling again", "err", err)
			pause = 100 * time.Millisecond
		default:
			c.log.Warn("durable fetch failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// handleSafe keeps a bug in the durable path from killing the process: the
// message is nak'ed and comes back (and is dead-lettered at the limit).
func (c *Consumer) handleSafe(ctx context.Context, msg jetstream.Msg) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("durable handler panicked", "subject", msg.Subject(), "command_id", msg.Headers().Get(HeaderMsgID),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			_ = msg.NakWithDelay(c.o.RetryBase)
		}
	}()
	c.handleDurable(ctx, msg)
}

// heartbeat keeps JetStream from redelivering msg and keeps the in-flight
// lock alive while a command waits or runs.
type heartbeat struct {
	mu      sync.Mutex
	lockVal string
	stop    chan struct{}
	done    chan struct{}
}

func (c *Consumer) startHeartbeat(msg jetstream.Msg, id keyRef) *heartbeat {
	hb := &heartbeat{stop: make(chan struct{}), done: make(chan struct{})}
	every := c.o.AckWait / 3
	go func() {
		defer close(hb.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-hb.stop:
				return
			case <-t.C:
				_ = msg.InProgress()
				hb.mu.Lock()
				v := hb.lockVal
				hb.mu.Unlock()
				if v != "" {
					ctx, cancel := context.WithTimeout(context.Background(), every)
					if ok, err := c.st.refresh(ctx, id, v, c.o.AckWait); err == nil && !ok {
						c.log.Warn("in-flight lock lost while running", "command_id", id.id)
					}
					cancel()
				}
			}
		}
	}()
	return hb
}

func (hb *heartbeat) setLock(v string) { hb.mu.Lock(); hb.lockVal = v; hb.mu.Unlock() }
func (hb *heartbeat) end()             { close(hb.stop); <-hb.done }

// handleDurable takes one durable command to a settled state: acked (with
// its outcome stored and published), dead-lettered and terminated, or
// nak'ed for a later attempt.
func (c *Consumer) handleDurable(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	subject := msg.Subject()
	command := strings.TrimPrefix(subject, c.names.Prefix+".cmd.")
	id := msg.Headers().Get(HeaderMsgID)
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("durable message without metadata", "subject", subject, "err", err)
		_ = msg.Term()
		return
	}
	deliveries := int(md.NumDelivered)
	log := c.log.With("command_id", id, "command", command, "delivery", deliveries)
	ref, hash := c.cmdRef(id), bodyHash(msg.Data())
	hb := c.startHeartbeat(msg, ref)
	defer hb.end()
	// Settling calls must complete even after ctx ends (shutdown).
	bg := context.WithoutCancel(ctx)

	if !ValidID(id) {
		c.deadLetter(bg, log, msg, command, fmt.Sprintf("invalid command id: header %s must match [A-Za-z0-9_-]{1,128}", HeaderMsgID), deliveries)
		return
	}
	if !slices.Contains(DurableCommands, command) {
		c.deadLetter(bg, log, msg, command, fmt.Sprintf("unknown command subject %s (want %s.cmd.users.create|users.update|users.delete|api.call)", subject, c.names.Prefix), deliveries)
		return
	}

	if e := checkHeaderValues(msg.Headers()); e != nil {
		c.settlePermanent(bg, log, msg, command, id, bind(errorOutcome(e), command, hash), deliveries)
		c.record(command, "cmd", strconv.Itoa(e.Status), time.Since(start))
		return
	}

	var lockVal string
	for {
		if c.replayStored(bg, log, msg, command, id, hash, deliveries) {
			return
		}
		if deliveries > c.o.MaxDeliver {
			// A crash during the last allowed attempt: no further attempt.
			c.deadLetter(bg, log, msg, command, fmt.Sprintf("no outcome after %d deliveries (COMMAND_MAX_DELIVER %d)", deliveries, c.o.MaxDeliver), deliveries)
			return
		}
		if verr := decodeFor(command, msg.Data()); verr != nil {
			e := classify(context.Background(), command, verr)
			c.settlePermanent(bg, log, msg, command, id, bind(errorOutcome(e), command, hash), deliveries)
			c.record(command, "cmd", strconv.Itoa(e.Status), time.Since(start))
			return
		}
		var v string
		var ok bool
		if err := c.retrying(log, "take the in-flight lock", 0, func(ctx context.Context) (err error) {
			v, ok, err = c.st.lock(ctx, ref, c.o.AckWait)
			return err
		}); err != nil {
			_ = msg.Nak()
			return
		}
		if ok {
			lockVal = v
			hb.setLock(v)
			break
		}
		// Another attempt holds the lock (a slow first delivery, or a
		// crashed holder whose lock has not expired): wait, then look again.
		if err := c.waitUnlocked(ctx, ref); err != nil {
			_ = msg.Nak()
			return
		}
	}
	// Between get and lock an attempt elsewhere may have finished.
	if c.replayStored(bg, log, msg, command, id, hash, deliveries) {
		hb.setLock("")
		_ = c.st.release(bg, ref, lockVal)
		return
	}

	release := func() { hb.setLock(""); _ = c.st.release(bg, ref, lockVal) }
	if err := c.acquire(ctx); err != nil {
		release()
		_ = msg.Nak()
		return
	}
	ectx, cancel := context.WithTimeout(c.execCtx, c.o.Timeout)
	body, e := c.x.execute(ectx, command, msg.Data(), attempt{redelivery: deliveries > 1, since: md.Timestamp})
	cancel()
	c.releaseSlot()

	switch {
	case e == nil:
		o := bind(fitOutcome(command, msg.Data(), successOutcome(body), c.o.NC.MaxPayload()), command, hash)
		if !o.OK() { // a read too large to publish: a permanent 413
			c.record(command, "cmd", strconv.Itoa(o.Status), time.Since(start))
			c.settlePermanent(bg, log, msg, command, id, o, deliveries)
			release()
			return
		}
		c.record(command, "cmd", "ok", time.Since(start))
		if err := c.retrying(log, "store the outcome", 0, func(ctx context.Context) error { return c.st.put(ctx, ref, o) }); err != nil {
			// The redelivery executes again; a create then meets 409 and
			// finds the user this attempt created.
			release()
			_ = msg.Nak()
			return
		}
		if err := c.retrying(log, "publish the outcome", publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, id, o) }); err != nil {
			release()
			c.nakLater(msg, deliveries) // the redelivery re-publishes the stored outcome
			return
		}
		release()
		if err := msg.DoubleAck(bg); err != nil {
			log.Warn("ack failed; a redelivery will re-publish the stored outcome", "err", err)
		}
	case !e.Transient:
		c.record(command, "cmd", strconv.Itoa(e.Status), time.Since(start))
		c.settlePermanent(bg, log, msg, command, id, bind(errorOutcome(e), command, hash), deliveries)
		release()
	default:
		c.record(command, "cmd", strconv.Itoa(e.Status), time.Since(start))
		release()
		if e.Code == CodeShuttingDown {
			_ = msg.Nak()
			return
		}
		if deliveries >= c.o.MaxDeliver {
			c.deadLetter(bg, log, msg, command, fmt.Sprintf("gave up after %d attempts (COMMAND_MAX_DELIVER): %s", deliveries, e.Message), deliveries)
			return
		}
		delay := c.retryDelay(e, deliveries)
		log.Info("transient failure; retrying later", "status", e.Status, "code", e.Code, "delay", delay)
		_ = msg.NakWithDelay(delay)
	}
}

// replayStored re-publishes a stored outcome instead of executing again.
// It reports whether the message is settled.
func (c *Consumer) replayStored(ctx context.Context, log *slog.Logger, msg jetstream.Msg, command, id, hash string, deliveries int) bool {
	var o Outcome
	found := false
	if err := c.retrying(log, "read the stored outcome", 0, func(ctx context.Context) error {
		var err error
		o, err = c.st.get(ctx, c.cmdRef(id))
		if errors.Is(err, errNoOutcome) {
			return nil
		}
		found = err == nil
		return err
	}); err != nil {
		_ = msg.Nak()
		return true
	}
	if !found {
		return false
	}
	if e := reuseError(o, command, hash); e != nil {
		// Another command or body under a used id: answer 409, keep the
		// stored outcome as it is.
		log.Warn("command id reused with another command or body; not executed")
		if err := c.retrying(log, "publish the outcome", publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, id, errorOutcome(e)) }); err != nil {
			c.nakLater(msg, deliveries)
			return true
		}
		c.deadLetter(ctx, log, msg, command, e.Message, deliveries)
		return true
	}
	log.Info("outcome already stored; re-publishing it without executing")
	if err := c.retrying(log, "re-publish the outcome", publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, id, o) }); err != nil {
		c.nakLater(msg, deliveries)
		return true
	}
	if o.OK() {
		_ = msg.DoubleAck(ctx)
		return true
	}
	// Re-dead-letter (deduplicated by the DLQ stream on Nats-Msg-Id) in
	// case the crash came between storing and dead-lettering.
	c.deadLetter(ctx, nil, msg, command, o.Error, deliveries)
	return true
}

// settlePermanent stores and publishes a permanent error, then dead-letters.
func (c *Consumer) settlePermanent(ctx context.Context, log *slog.Logger, msg jetstream.Msg, command, id string, o Outcome, deliveries int) {
	if err := c.retrying(log, "store the outcome", 0, func(ctx context.Context) error { return c.st.put(ctx, c.cmdRef(id), o) }); err != nil {
		_ = msg.Nak()
		return
	}
	if err := c.retrying(log, "publish the outcome", publishAttempts, func(ctx context.Context) error { return c.publishResult(ctx, id, o) }); err != nil {
		c.nakLater(msg, deliveries)
		return
	}
	c.deadLetter(ctx, nil, msg, command, o.Error, deliveries)
}

func (c *Consumer) publishResult(ctx context.Context, id string, o Outcome) error {
	m := o.Msg(c.ResultSubject(id))
	m.Header.Set(HeaderMsgID, id)
	if _, err := c.o.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish outcome of %s: %w", id, err)
	}
	return nil
}

// publishAttempts bounds the tries of one publish (outcome, dead letter)
// while the message is held: then it is nak'ed with delay, so no worker ever
// waits forever on one message (DESIGN.md §5, reply size).
const publishAttempts = 4

// nakLater gives the message back after the usual backoff.
func (c *Consumer) nakLater(msg jetstream.Msg, deliveries int) {
	_ = msg.NakWithDelay(c.retryDelay(&Error{}, deliveries))
}

// retrying runs fn until it succeeds, holding the message (InProgress goes
// on) so that Redis or JetStream trouble does not burn the command's
// deliveries. It gives up after attempts tries (0 = no limit) or when the
// shutdown grace ends.
func (c *Consumer) retrying(log *slog.Logger, what string, attempts int, fn func(context.Context) error) error {
	d := c.o.RetryBase
	for i := 0; ; i++ {
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			if i > 0 {
				log.Info(what + ": succeeded after retries")
			}
			return nil
		}
		if attempts > 0 && i+1 >= attempts {
			log.Error(what+" failed; giving the message back for later", "attempts", attempts, "err", err)
			return fmt.Errorf("%s: %w", what, err)
		}
		if i == 0 {
			log.Warn(what+" failed; retrying while holding the message", "err", err)
		}
		select {
		case <-c.execCtx.Done():
			log.Error(what+" failed; giving the message back", "err", err)
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(d):
		}
		d = min(d*2, c.o.RetryMax)
	}
}

// deadLetter publishes the original body and headers plus Dlq-Reason,
// Dlq-Subject and Dlq-Deliveries on <prefix>.dlq.<...>, then terminates the
// message. If the publish fails the message is nak'ed (it comes back and is
// dead-lettered then).
func (c *Consumer) deadLetter(ctx context.Context, log *slog.Logger, msg jetstream.Msg, command, reason string, deliveries int) {
	if log == nil {
		log = c.log
	}
	m := nats.NewMsg(c.DLQSubject(msg.Subject()))
	for k, v := range msg.Headers() {
		m.Header[k] = slices.Clone(v)
	}
	m.Header.Set(HeaderDlqReason, oneLine(reason))
	m.Header.Set(HeaderDlqSubject, msg.Subject())
	m.Header.Set(HeaderDlqDeliveries, strconv.Itoa(deliveries))
	// The sender re-supplies passwords and secrets when it re-publishes.
	m.Data = redactBody(msg.Data(), dlqSecrets)
	if err := c.retrying(log, "publish the dead letter", publishAttempts, func(ctx context.Context) error {
		_, err := c.o.JS.PublishMsg(ctx, m)
		return err
	}); err != nil {
		c.nakLater(msg, deliveries) // it comes back and is dead-lettered then
		return
	}
	if c.m != nil {
		if !slices.Contains(DurableCommands, command) {
			command = "unknown" // subjects are caller-chosen: bound the label values
		}
		c.m.DLQ.WithLabelValues(command).Inc()
	}
	c.log.Warn("command dead-lettered", "command_id", msg.Headers().Get(HeaderMsgID), "subject", msg.Subject(), "reason", oneLine(reason), "deliveries", deliveries)
	_ = msg.Term()
}

// retryDelay honours Auth0's reset time when it gave one, else backs off
// exponentially with jitter.
func (c *Consumer) retryDelay(e *Error, deliveries int) time.Duration {
	if !e.RetryAt.IsZero() {
		if d := time.Until(e.RetryAt); d > 0 {
			return d + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
		}
	}
	d := c.o.RetryBase << min(deliveries-1, 10)
	if d > c.o.RetryMax || d <= 0 {
		d = c.o.RetryMax
	}
	// ±10% jitter so a burst of failures does not come back as a burst.
	j := time.Duration(rand.Int64N(int64(d)/5 + 1))
	return d - d/10 + j
}
