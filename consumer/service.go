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

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/schemas"
)

// The request-reply transport (README "Commands"): ONE micro service per process.
// Its handler only stamps the arrival, copies the reply subject, headers and
// data, and either puts the request on a bounded queue served by
// Concurrency executors or answers 503 overloaded at once; then it returns.
// Executors reply with PublishMsg on the copied reply subject. micro's own
// counters therefore see only the hand-off; the true processing figures are
// in Prometheus and in the service's StatsHandler data (endpointStats).

// Endpoint pending limits: a backstop for memory only. The handler never
// blocks, so a subscription's buffer fills only under a flood faster than
// the handler can copy; what overflows is dropped by nats.go and counted in
// auth0_worker_commands_dropped_total.
const (
	endpointPendingMsgs  = 10_000
	endpointPendingBytes = 16 << 20
)

// request is one request-reply command handed to an executor.
type request struct {
	cmd     *Command
	command string
	reply   string
	headers nats.Header
	data    []byte
	stamp   time.Time
}

// endpointStats are the true per-command figures, served as the "data" of
// each endpoint in `nats micro stats` (StatsHandler).
type endpointStats struct {
	Executed       int64   `json:"executed"`
	Errors         int64   `json:"errors"`
	Overloaded     int64   `json:"overloaded"`
	RefusedReply   int64   `json:"refused_reply"`
	Timeouts       int64   `json:"timeouts"`
	ProcessingTime int64   `json:"processing_time_ns"`
	AverageTime    int64   `json:"average_processing_time_ns"`
	QueueDepth     int     `json:"queue_depth"`
	QueueCapacity  int     `json:"queue_capacity"`
	Dropped        float64 `json:"dropped_total"`
}

type statsBook struct {
	mu sync.Mutex
	by map[string]*endpointStats
}

func (b *statsBook) update(command string, f func(*endpointStats)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.by[command]
	if s == nil {
		s = &endpointStats{}
		b.by[command] = s
	}
	f(s)
}

// ServiceSubject is <prefix>.svc.<command>.
func (c *Consumer) ServiceSubject(command string) string {
	return c.names.Prefix + ".svc." + command
}

func endpointName(command string) string {
	return strings.NewReplacer(".", "_").Replace(command)
}

func (c *Consumer) serviceConfig() micro.Config {
	// micro wants semantic versions; the binary's own version string
	// ("v1.2.3", "dev", a commit) is always in the metadata as well.
	version := strings.TrimPrefix(c.o.Version, "v")
	if !semverRe.MatchString(version) {
		version = "0.0.0"
	}
	meta := map[string]string{"base_url": c.o.BaseURL, "subject_prefix": c.names.Prefix, "version": c.o.Version}
	if c.o.Version == "" {
		meta["version"] = version
	}
	byName := map[string]string{}
	for _, cmd := range c.cmds.names(TransportService) {
		byName[endpointName(cmd)] = cmd
	}
	return micro.Config{
		Name:        ServiceName,
		Version:     version,
		Description: "Auth0 Management API commands over NATS",
		Metadata:    meta,
		StatsHandler: func(ep *micro.Endpoint) any {
			st := c.statsFor(byName[ep.Name])
			return st
		},
	}
}

func (c *Consumer) statsFor(command string) endpointStats {
	c.stats.mu.Lock()
	var st endpointStats
	if s := c.stats.by[command]; s != nil {
		st = *s
	}
	c.stats.mu.Unlock()
	if st.Executed > 0 {
		st.AverageTime = st.ProcessingTime / st.Executed
	}
	st.QueueDepth, st.QueueCapacity = len(c.queue), cap(c.queue)
	st.Dropped = c.drops.total()
	return st
}

// startService adds the one service instance and starts its executors.
func (c *Consumer) startService(wg *sync.WaitGroup) error {
	c.drops.watch(c.o.NC, c.names.Prefix+".svc.")
	svc, err := micro.AddService(c.o.NC, c.serviceConfig())
	if err != nil {
		return fmt.Errorf("consumer: micro service: %w", err)
	}
	c.mu.Lock()
	c.svc = svc
	c.mu.Unlock()
	if err := c.addEndpoints(svc); err != nil {
		return err
	}
	for i := 0; i < c.o.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.executorLoop()
		}()
	}
	return nil
}

// addEndpoints registers one endpoint per command of the table served on
// request-reply: the only place endpoints are made (endpoint metadata
// belongs here).
func (c *Consumer) addEndpoints(svc micro.Service) error {
	for i := range c.cmds.list {
		cmd := &c.cmds.list[i]
		if cmd.Transports&TransportService == 0 {
			continue
		}
		opts := []micro.EndpointOpt{
			micro.WithEndpointSubject(c.ServiceSubject(cmd.Name)),
			micro.WithEndpointPendingLimits(endpointPendingMsgs, endpointPendingBytes),
		}
		// The request, reply and error schemas (schemas/), so `nats micro
		// info auth0-worker` shows what each endpoint takes. A command with no
		// schema files (one a caller added to Options.Commands) has none;
		// TestServiceInfoShowsSchemas keeps every built-in command covered.
		if meta, err := schemas.EndpointMetadata(cmd.Name); err == nil {
			opts = append(opts, micro.WithEndpointMetadata(meta))
		}
		err := svc.AddEndpoint(endpointName(cmd.Name), micro.HandlerFunc(c.serviceHandler(cmd)), opts...)
		if err != nil {
			return fmt.Errorf("consumer: micro endpoint %s: %w", cmd.Name, err)
		}
	}
	return nil
}

// stopService stops the instance (subscriptions drain, the service
// unregisters) and closes the queue once no handler can add to it; the
// executors finish what is queued (answering 503 once execCtx ends).
func (c *Consumer) stopService() {
	c.mu.Lock()
	svc := c.svc
	c.svc = nil
	c.mu.Unlock()
	if svc != nil {
		if err := svc.Stop(); err != nil {
			c.log.Warn("micro service stop", "err", err)
		}
	}
	c.qmu.Lock()
	if !c.qclosed {
		c.qclosed = true
		close(c.queue)
	}
	c.qmu.Unlock()
}

// serviceHandler is the hand-off: stamp, copy, enqueue or 503. It never
// blocks and never executes anything.
func (c *Consumer) serviceHandler(cmd *Command) func(micro.Request) {
	command := cmd.Name
	return func(req micro.Request) {
		r := request{cmd: cmd, command: command, reply: req.Reply(), stamp: time.Now()}
		if why := replyRefused(c.names.Prefix, r.reply); why != "" {
			c.log.Warn("request refused: no reply is sent to that subject", "command", command, "reply", oneLine(r.reply), "reason", why)
			c.stats.update(command, func(s *endpointStats) { s.RefusedReply++ })
			c.record(command, "svc", OutcomeRefusedReply, 0)
			return
		}
		r.headers = cloneHeader(req.Headers())
		r.data = append([]byte(nil), req.Data()...)
		c.qmu.Lock()
		queued, closed := false, c.qclosed
		if !closed {
			select {
			case c.queue <- r:
				queued = true
			default:
			}
		}
		c.qmu.Unlock()
		switch {
		case closed:
			c.reply(r, errorOutcome(&Error{Status: 503, Code: CodeShuttingDown, Message: command + ": worker shutting down", Transient: true}))
			c.record(command, "svc", "503", 0)
		case !queued:
			c.stats.update(command, func(s *endpointStats) { s.Overloaded++ })
			e := &Error{Status: 503, Code: CodeOverloaded, Message: command + ": worker overloaded (request queue full); retry later", Transient: true}
			c.reply(r, errorOutcome(e))
			c.record(command, "svc", "503", 0)
		}
	}
}

// executorLoop serves queued requests until the queue is closed and empty.
func (c *Consumer) executorLoop() {
	for r := range c.queue {
		c.execute(r)
	}
}

// execute runs one request and replies. Its budget counts from the stamp.
func (c *Consumer) execute(r request) {
	_, span := c.startSpan(context.Background(), "svc", r.command, r.headers)
	o := c.serveSafe(r, span)
	o = fitOutcome(r.cmd, r.data, o, c.o.NC.MaxPayload())
	c.replyTraced(r, o, span)
	spanOutcome(span, o)
	span.End()
	d := time.Since(r.stamp)
	outcome := "ok"
	if !o.OK() {
		outcome = strconv.Itoa(o.Status)
	}
	c.stats.update(r.command, func(s *endpointStats) {
		s.Executed++
		s.ProcessingTime += int64(d)
		if !o.OK() {
			s.Errors++
		}
		if o.Status == 504 {
			s.Timeouts++
		}
	})
	c.record(r.command, "svc", outcome, d)
}

// reply publishes o on the request's own reply subject.
func (c *Consumer) reply(r request, o Outcome) { c.replyTraced(r, o, nil) }

// replyTraced is reply carrying span's traceparent (span may be nil).
func (c *Consumer) replyTraced(r request, o Outcome, span trace.Span) {
	m := o.Msg(r.reply)
	injectSpan(m, span)
	if err := c.o.NC.PublishMsg(m); err != nil {
		c.log.Warn("reply failed", "command", r.command, "err", err)
	}
}

// serveSafe is serve with the request's budget (from its stamp) and a 500
// for any panic outside the executor's own recovery.
func (c *Consumer) serveSafe(r request, span trace.Span) (o Outcome) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("request handler panicked", "command", r.command, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			o = errorOutcome(internalError(r.command))
		}
	}()
	ctx, cancel := context.WithDeadline(withSpan(c.execCtx, span), r.stamp.Add(c.o.Timeout))
	defer cancel()
	if e := checkHeaderValues(r.headers); e != nil {
		return errorOutcome(e)
	}
	return c.serve(ctx, r.cmd, r.headers.Get(HeaderIdempotencyKey), r.data)
}

// serve runs a request-reply command, honouring an Idempotency-Key.
func (c *Consumer) serve(ctx context.Context, cmd *Command, key string, data []byte) Outcome {
	command := cmd.Name
	if key == "" {
		return c.run(ctx, command, data, attempt{}).Outcome
	}
	if !ValidID(key) {
		return errorOutcome(invalidf("header %s must match [A-Za-z0-9_-]{1,128}", HeaderIdempotencyKey))
	}
	ref, hash := c.idemRef(key), bodyHash(data)
	stored := func(o Outcome) Outcome {
		if e := reuseError(o, command, hash); e != nil {
			return errorOutcome(e)
		}
		return o
	}
	for {
		o, err := c.st.get(ctx, ref)
		if err == nil {
			return stored(o)
		}
		if !errors.Is(err, errNoOutcome) {
			return c.storeDown(ctx, command, err)
		}
		lockVal, ok, err := c.st.lock(ctx, ref, c.o.Timeout+5*time.Second)
		if err != nil {
			return c.storeDown(ctx, command, err)
		}
		if !ok {
			// The same key runs elsewhere: wait for its outcome or its end.
			if werr := c.waitUnlocked(ctx, ref); werr != nil {
				return errorOutcome(classify(ctx, command, werr))
			}
			continue
		}
		// A run that finished between our get and our lock left its outcome.
		if o, err := c.st.get(ctx, ref); err == nil {
			_ = c.st.release(context.WithoutCancel(ctx), ref, lockVal)
			return stored(o)
		}
		r := c.run(ctx, command, data, attempt{})
		if r.permanent {
			r.Outcome = bind(fitOutcome(cmd, data, r.Outcome, c.o.NC.MaxPayload()), command, hash)
			if err := c.st.put(context.WithoutCancel(ctx), ref, r.Outcome); err != nil {
				c.log.Error("idempotency: outcome not stored; a repeat will execute again", "idempotency_key", key, "err", err)
			}
		}
		_ = c.st.release(context.WithoutCancel(ctx), ref, lockVal)
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

// waitUnlocked polls (every 50ms, backoff.ConstantBackOff) until the key's
// in-flight lock is gone; a Redis error counts as still held. It returns
// ctx's error if ctx ends first.
func (c *Consumer) waitUnlocked(ctx context.Context, ref keyRef) error {
	return backoff.Retry(func() error {
		if held, err := c.st.locked(ctx, ref); err != nil || held {
			return errLockHeld
		}
		return nil
	}, backoff.WithContext(backoff.NewConstantBackOff(50*time.Millisecond), ctx))
}

var errLockHeld = errors.New("in-flight lock held")

// result is an outcome plus whether it is permanent (worth storing).
type result struct {
	Outcome
	permanent bool
	err       *Error
}

// run executes under the shared semaphore. A command whose budget ran out
// while it waited is answered 504 without reaching Auth0.
func (c *Consumer) run(ctx context.Context, command string, data []byte, at attempt) result {
	if err := c.acquire(ctx); err != nil {
		e := classify(ctx, command, err)
		return result{Outcome: errorOutcome(e), err: e}
	}
	defer c.releaseSlot()
	if err := ctx.Err(); err != nil { // the slot and the deadline came together
		e := classify(ctx, command, err)
		return result{Outcome: errorOutcome(e), err: e}
	}
	body, e := c.x.execute(ctx, command, data, at)
	if e != nil {
		return result{Outcome: errorOutcome(e), permanent: !e.Transient, err: e}
	}
	return result{Outcome: successOutcome(body), permanent: true}
}

func cloneHeader(h micro.Headers) nats.Header {
	out := make(nats.Header, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}
