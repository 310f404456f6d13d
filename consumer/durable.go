package consumer

import (
	"context"
	"errors"
	"fmt"
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
