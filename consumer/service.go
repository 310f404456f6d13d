package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// serviceInstance is one of the Concurrency micro services on the
// connection. Each instance has its own subscription per endpoint, so N
// instances give N handlers per endpoint running at once; the shared
// semaphore keeps the total of running commands at N.
type serviceInstance struct {
	svc micro.Service
}

// handlers tracks request-reply handlers running, so Run can wait for them.
type handlerCount struct {
	mu       sync.Mutex
	cond     *sync.Cond
	n        int
	stopping bool
}

func newHandlerCount() *handlerCount {
	h := &handlerCount{}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *handlerCount) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return false
	}
	h.n++
	return true
}

func (h *handlerCount) leave() {
	h.mu.Lock()
	h.n--
	h.cond.Broadcast()
	h.mu.Unlock()
}

// ServiceSubject is <prefix>.svc.<command>.
func (c *Consumer) ServiceSubject(command string) string {
	return c.names.Prefix + ".svc." + command
}

func endpointName(command string) string {
	return strings.NewReplacer(".", "_").Replace(command)
}

func (c *Consumer) startService() error {
	version := c.o.Version
	meta := map[string]string{"base_url": c.o.BaseURL, "subject_prefix": c.names.Prefix}
	if !semverRe.MatchString(version) {
		if version != "" {
			meta["version"] = version
		}
		version = "0.0.0"
	}
	for i := 0; i < c.o.Concurrency; i++ {
		svc, err := micro.AddService(c.o.NC, micro.Config{
			Name:        ServiceName,
			Version:     version,
			Description: "Auth0 Management API commands over NATS",
			Metadata:    meta,
		})
		if err != nil {
			return fmt.Errorf("consumer: micro service: %w", err)
		}
		c.mu.Lock()
		c.services = append(c.services, serviceInstance{svc: svc})
		c.mu.Unlock()
		for _, cmd := range ServiceCommands {
			err := svc.AddEndpoint(endpointName(cmd), micro.HandlerFunc(c.serviceHandler(cmd)),
				micro.WithEndpointSubject(c.ServiceSubject(cmd)))
			if err != nil {
				return fmt.Errorf("consumer: micro endpoint %s: %w", cmd, err)
			}
		}
	}
	return nil
}

// stopService stops every instance: subscriptions drain, the services
// unregister. Handlers already running finish (see waitHandlers).
func (c *Consumer) stopService() {
	c.mu.Lock()
	svcs := c.services
	c.services = nil
	c.mu.Unlock()
	for _, s := range svcs {
		if err := s.svc.Stop(); err != nil {
			c.log.Warn("micro service stop", "err", err)
		}
	}
}

// waitHandlers waits until no request-reply handler runs and refuses new ones.
func (c *Consumer) waitHandlers() {
	h := c.hc
	h.mu.Lock()
	h.stopping = true
	for h.n > 0 {
		h.cond.Wait()
	}
	h.mu.Unlock()
}

// serviceHandler answers one request; it returns only after the reply is
// sent, so micro's stats (requests, errors, processing time) are true.
func (c *Consumer) serviceHandler(command string) func(micro.Request) {
	return func(req micro.Request) {
		start := time.Now()
		h := c.hc
		var o Outcome
		if !h.enter() {
			o = errorOutcome(&Error{Status: 503, Code: CodeShuttingDown, Message: command + ": worker shutting down"})
		} else {
			defer h.leave()
			o = c.serveSafe(command, req.Headers().Get(HeaderIdempotencyKey), req.Data())
		}
		var err error
		if o.OK() {
			err = req.Respond(o.Body)
		} else {
			err = req.Error(strconv.Itoa(o.Status), oneLine(o.Error), o.Body)
		}
		if err != nil {
			c.log.Warn("reply failed", "command", command, "err", err)
		}
		outcome := "ok"
		if !o.OK() {
			outcome = strconv.Itoa(o.Status)
		}
		c.record(command, "svc", outcome, time.Since(start))
	}
}

// serveSafe is serve with its own budget and a 500 for any panic outside
// the executor's own recovery.
func (c *Consumer) serveSafe(command, key string, data []byte) (o Outcome) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("request handler panicked", "command", command, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			o = errorOutcome(internalError(command))
		}
	}()
	ctx, cancel := context.WithTimeout(c.execCtx, c.o.Timeout)
	defer cancel()
	return c.serve(ctx, command, key, data)
}

// serve runs a request-reply command, honouring an Idempotency-Key.
func (c *Consumer) serve(ctx context.Context, command, key string, data []byte) Outcome {
	if key == "" {
		return c.run(ctx, command, data, attempt{}).Outcome
	}
	if !ValidID(key) {
		return errorOutcome(invalidf("header %s must match [A-Za-z0-9_-]{1,128}", HeaderIdempotencyKey))
	}
	for {
		o, err := c.st.get(ctx, key)
		if err == nil {
			return o
		}
		if !errors.Is(err, errNoOutcome) {
			return c.storeDown(ctx, command, err)
		}
		lockVal, ok, err := c.st.lock(ctx, key, c.o.Timeout+5*time.Second)
		if err != nil {
			return c.storeDown(ctx, command, err)
		}
		if !ok {
			// The same key runs elsewhere: wait for its outcome or its end.
			if werr := c.waitUnlocked(ctx, key); werr != nil {
				return errorOutcome(classify(ctx, command, werr))
			}
			continue
		}
		// A run that finished between our get and our lock left its outcome.
		if o, err := c.st.get(ctx, key); err == nil {
			_ = c.st.release(context.WithoutCancel(ctx), key, lockVal)
			return o
		}
		r := c.run(ctx, command, data, attempt{})
		if r.permanent {
			if err := c.st.put(context.WithoutCancel(ctx), key, r.Outcome); err != nil {
				c.log.Error("idempotency: outcome not stored; a repeat will execute again", "idempotency_key", key, "err", err)
			}
		}
		_ = c.st.release(context.WithoutCancel(ctx), key, lockVal)
		return r.Outcome
	}
}

func (c *Consumer) storeDown(ctx context.Context, command string, err error) Outcome {
	if ctx.Err() != nil {
		return errorOutcome(classify(ctx, command, ctx.Err()))
	}
	c.log.Warn("redis unavailable for an Idempotency-Key", "command", command, "err", err)
	return errorOutcome(&Error{Status: 503, Code: CodeStoreUnavailable, Message: command + ": Idempotency-Key store (Redis) unavailable", Transient: true})
}

// waitUnlocked polls until the key's in-flight lock is gone.
func (c *Consumer) waitUnlocked(ctx context.Context, key string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		held, err := c.st.locked(ctx, key)
		if err == nil && !held {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// result is an outcome plus whether it is permanent (worth storing).
type result struct {
	Outcome
	permanent bool
	err       *Error
}

// run executes under the shared semaphore.
func (c *Consumer) run(ctx context.Context, command string, data []byte, at attempt) result {
	if err := c.acquire(ctx); err != nil {
		e := classify(ctx, command, err)
		return result{Outcome: errorOutcome(e), err: e}
	}
	defer c.releaseSlot()
	body, e := c.x.execute(ctx, command, data, at)
	if e != nil {
		return result{Outcome: errorOutcome(e), permanent: !e.Transient, err: e}
	}
	return result{Outcome: successOutcome(body), permanent: true}
}
