// Package consumer is the command side of auth0-worker (README "Commands"): one
// executor (command body → Auth0 call → reply body or *Error) behind two
// transports:
//
//   - the nats.go/micro service "auth0-worker" on <prefix>.svc.users.create,
//     .update, .get, .delete, .search, .search_by_email and <prefix>.svc.api.call
//     (request-reply, optional Idempotency-Key);
//   - a durable JetStream consumer on <PREFIX>_COMMANDS (<prefix>.cmd.users.create,
//     .update, .delete, .api.call; Nats-Msg-Id = command id), outcomes on
//     <prefix>.results.<id>, dead letters on <prefix>.dlq.<subject without prefix>.
//
// The commands are one table (Commands in commands.go; Options.Commands):
// endpoints, durable subjects and metric labels follow it. The durable
// path is a chain of small steps (chain.go). docs/architecture.md shows
// how a command flows and what to touch to add one.
//
// Both transports share one semaphore: never more than Options.Concurrency
// commands run at once in a process. Request-reply requests wait on a
// bounded queue (Options.QueueSize); a full queue is answered 503 at once.
//
// Error replies carry Nats-Service-Error-Code (the status) and
// Nats-Service-Error (one line), and the body
// {"error":{"status":N,"code":"...","message":"...","auth0":{...}}}. Codes:
//
//	400 invalid_command     our validation (names the field); nothing reached Auth0
//	400 auth0_bad_request   Auth0's 400 (its body under "auth0")
//	403 auth0_forbidden     Auth0's 403
//	403 not_allowed         api.call refused by AUTH0_API_CALL_ALLOW
//	404 not_found           Auth0's 404
//	409 conflict            Auth0's 409
//	409 idempotency_key_reused  the key or id was used with another command or body
//	413 reply_too_large     a read's reply over the NATS max payload
//	429 rate_limited        Auth0 still answered 429 after the client's retries
//	500 internal            a recovered panic (logged with its stack)
//	502 auth0_error         Auth0 5xx
//	502 auth0_unauthorized  a 401 that survived a token refresh, or the token refused
//	502 auth0_ambiguous     a create whose outcome Auth0 left unknown (svc only)
//	503 auth0_unavailable   Auth0 unreachable
//	503 store_unavailable   Redis unreachable while an Idempotency-Key needed it
//	503 shutting_down       the worker stopped while the command waited or ran
//	503 overloaded          the request queue was full (answered at once)
//	504 timeout             COMMAND_TIMEOUT passed
//
// State lives only in Redis (outcomes, in-flight locks) and JetStream
// (commands, results, dead letters), so a process may be killed at any time.
//
// Caveats:
//   - Idempotency-Keys (P:T:idem:<key>) and durable command ids
//     (P:T:cmd:<id>) are separate key spaces; a stored outcome is bound to
//     its command and body hash, so a reused key gets 409.
//   - The ambiguous-create check compares Auth0's created_at with the time
//     JetStream stored the command; a clock skew between the NATS server and
//     Auth0 larger than the gap between publish and create defeats it (the
//     command then ends as 409).
//   - Only permanent outcomes are stored: a request-reply command that
//     failed transiently runs again when repeated with the same key.
//   - Redis or JetStream trouble during a durable command is retried while
//     the message is held (InProgress), so it does not use up deliveries.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/tick"
	"github.com/auth0-worker/auth0-worker/internal/tracing"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// ServiceName is the micro service name.
const ServiceName = "auth0-worker"

// DefaultDurable is the durable consumer name shared by all replicas.
const DefaultDurable = "auth0-worker"

// Defaults of the Options fields config does not set.
const (
	DefaultQueuePerExecutor = 4
	DefaultAckWait          = 15 * time.Second
	DefaultRetryBase        = time.Second
	DefaultRetryMax         = 30 * time.Second
	DefaultShutdownGrace    = 5 * time.Second
)

// Options configure a Consumer. Zero values take the defaults stated.
type Options struct {
	// Client executes commands against Auth0 (required); *auth0.Client.
	Client Client
	// NC is the NATS connection (required). The service instances live on it.
	NC *nats.Conn
	// JS is the JetStream context; default jetstream.New(NC).
	JS jetstream.JetStream
	// Redis keeps outcomes and in-flight locks (required).
	Redis redis.UniversalClient
	// Keys build the Redis keys; Keys.Prefix default limits.KeyPrefix, Keys.Tenant
	// is required (host[:port] of the base URL).
	Keys rediskeys.Keys
	// Names are the subject prefix and stream names; default
	// publisher.NamesFor("auth0").
	Names publisher.Names
	// BaseURL of the tenant, shown in the service metadata.
	BaseURL string
	// Concurrency is COMMAND_CONCURRENCY: commands executing at once, both
	// transports together, and the number of request-reply executors;
	// default limits.CommandConcurrency.
	Concurrency int
	// QueueSize bounds the request-reply requests waiting for an executor;
	// one more is answered 503 overloaded at once. Default
	// DefaultQueuePerExecutor × Concurrency.
	QueueSize int
	// Timeout is COMMAND_TIMEOUT, one command's budget; default
	// limits.CommandTimeout.
	// Request-reply commands count it from arrival (waiting included): one
	// not started by then is answered 504 without reaching Auth0.
	Timeout time.Duration
	// MaxDeliver is COMMAND_MAX_DELIVER, attempts of a durable command
	// before it is dead-lettered; default limits.CommandMaxDeliver.
	MaxDeliver int
	// AckWait of the durable consumer; default DefaultAckWait. InProgress
	// is sent every AckWait/3 while a command waits or runs, and the in-flight lock lives
	// AckWait, so after a crash a command is redelivered (and its lock free)
	// about AckWait later.
	AckWait time.Duration
	// RetryBase and RetryMax bound the NakWithDelay backoff of transient
	// failures when Auth0 gave no reset time; defaults DefaultRetryBase and
	// DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// ShutdownGrace is how long Run lets in-flight commands finish once ctx
	// ends before cancelling them (they are then nak'ed, or answered 503);
	// default DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// StreamOptions for the streams created when missing.
	StreamOptions publisher.StreamOptions
	// Durable is the durable consumer name; default DefaultDurable.
	Durable string
	// Metrics, optional (nil records nothing).
	Metrics *metrics.Metrics
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Version is the binary's version, in the service metadata as
	// "version"; it is also the micro service version when semantic
	// ("1.2.3" or "v1.2.3"), else that is "0.0.0".
	Version string
	// Commands is the command table served; default Commands(). Each
	// entry's name, transports and Auth0 call are checked by New.
	Commands []Command
	// DisableService / DisableDurable turn one transport off.
	DisableService, DisableDurable bool
	// TracerProvider, if set, gets a span per command (see trace.go);
	// nil = no tracing: no span, no traceparent read or written.
	TracerProvider trace.TracerProvider
}

// Consumer runs the command transports. Create it with New, start it with Run.
type Consumer struct {
	o     Options
	cmds  *commandSet
	x     *executor
	st    *store
	sem   chan struct{}
	log   *slog.Logger
	m     *metrics.Metrics
	names publisher.Names
	tr    trace.Tracer // nil: tracing off

	// execCtx is the parent of every command's context. It outlives Run's
	// ctx by ShutdownGrace so in-flight commands can finish.
	execCtx    context.Context
	execCancel context.CancelFunc

	ready chan struct{}

	// queue holds request-reply requests for the executors; qmu orders
	// sends against the close at shutdown.
	// durable handles one durable message (durableChain).
	durable durableHandler

	queue   chan request
	qmu     sync.Mutex
	qclosed bool
	stats   statsBook
	drops   *dropCounter

	mu      sync.Mutex
	svc     micro.Service
	running bool
}

// check refuses missing dependencies and negative values.
func (o *Options) check() error {
	switch {
	case o.Client == nil:
		return fmt.Errorf("%w: Client is required", ErrConfig)
	case o.NC == nil:
		return fmt.Errorf("%w: NC is required", ErrConfig)
	case o.Redis == nil:
		return fmt.Errorf("%w: Redis is required", ErrConfig)
	case o.Keys.Tenant == "":
		return fmt.Errorf("%w: Keys.Tenant is required (host[:port] of the base URL)", ErrConfig)
	case o.Concurrency < 0 || o.QueueSize < 0 || o.MaxDeliver < 0 || o.Timeout < 0 || o.AckWait < 0:
		return fmt.Errorf("%w: Concurrency, MaxDeliver, Timeout and AckWait must not be negative", ErrConfig)
	}
	return nil
}

// setDefaults fills the zero values with the defaults stated on Options.
func (o *Options) setDefaults() {
	if o.Keys.Prefix == "" {
		o.Keys.Prefix = limits.KeyPrefix
	}
	if o.Names.Prefix == "" {
		o.Names = publisher.NamesFor("auth0")
	}
	limits.FillPositive(&o.Concurrency, limits.CommandConcurrency)
	limits.FillPositive(&o.QueueSize, DefaultQueuePerExecutor*o.Concurrency)
	limits.FillPositive(&o.Timeout, limits.CommandTimeout)
	limits.FillPositive(&o.MaxDeliver, limits.CommandMaxDeliver)
	limits.FillPositive(&o.AckWait, DefaultAckWait)
	limits.FillPositive(&o.RetryBase, DefaultRetryBase)
	limits.FillPositive(&o.RetryMax, DefaultRetryMax)
	limits.FillPositive(&o.ShutdownGrace, DefaultShutdownGrace)
	if o.Durable == "" {
		o.Durable = DefaultDurable
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Commands == nil {
		o.Commands = Commands()
	}
}

var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ErrConfig wraps every invalid-option error of New.
var ErrConfig = errors.New("consumer: invalid options")

// New validates o and returns a Consumer. It does no I/O.
func New(o Options) (*Consumer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	o.setDefaults()
	if o.AckWait < 300*time.Millisecond {
		return nil, fmt.Errorf("%w: AckWait %v is too short (at least 300ms)", ErrConfig, o.AckWait)
	}
	if o.JS == nil {
		js, err := jetstream.New(o.NC)
		if err != nil {
			return nil, fmt.Errorf("consumer: jetstream: %w", err)
		}
		o.JS = js
	}
	cmds, err := newCommandSet(o.Commands)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("component", "consumer")
	c := &Consumer{
		o:     o,
		cmds:  cmds,
		x:     &executor{client: o.Client, log: log, cmds: cmds},
		st:    &store{rdb: o.Redis, token: newToken()},
		sem:   make(chan struct{}, o.Concurrency),
		log:   log,
		m:     o.Metrics,
		names: o.Names,
		tr:    tracing.Tracer(o.TracerProvider, "consumer"),
		ready: make(chan struct{}),
		queue: make(chan request, o.QueueSize),
		stats: statsBook{by: map[string]*endpointStats{}},
	}
	var dropped prometheus.Counter
	if o.Metrics != nil {
		dropped = o.Metrics.CommandsDropped
	}
	c.drops = newDropCounter(dropped)
	c.durable = c.durableChain()
	return c, nil
}

// Run sets up the streams and the durable consumer, starts both transports
// and blocks until ctx ends. Then it stops taking work (service
// subscriptions drained, no more fetches), lets in-flight commands finish
// for up to ShutdownGrace, cancels the rest (durable ones are nak'ed for
// redelivery, request-reply ones answered 503) and returns nil. A setup
// error is returned at once; errors.Is(err, publisher.ErrSubjectClash)
// means a stream exists with other subjects (exit 2).
//
// Run must be called once.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("consumer: Run called twice")
	}
	c.running = true
	c.execCtx, c.execCancel = context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Unlock()
	defer c.execCancel()

	var wg sync.WaitGroup
	if !c.o.DisableDurable {
		cons, err := c.setupDurable(ctx)
		if err != nil {
			return err
		}
		for i := 0; i < c.o.Concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.durableWorker(ctx, cons)
			}()
		}
	}
	if !c.o.DisableService {
		if err := c.startService(&wg); err != nil {
			c.stopService()
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.countDrops(ctx) }()
		// The endpoints' subscriptions are only in the connection's buffer:
		// a round trip makes them the server's before Ready says requests
		// are answered.
		if err := c.o.NC.FlushTimeout(readyFlushTimeout); err != nil {
			c.stopService()
			return fmt.Errorf("consumer: service subscriptions not confirmed by the server: %w", err)
		}
	}
	close(c.ready)
	c.log.Info("command transports running", "prefix", c.names.Prefix, "concurrency", c.o.Concurrency,
		"service", !c.o.DisableService, "durable", !c.o.DisableDurable)

	<-ctx.Done()
	c.stopService()
	c.finish(&wg)
	c.log.Info("command transports stopped")
	return nil
}

// finish waits for the in-flight commands for up to ShutdownGrace, then
// cancels the rest (they are nak'ed or answered 503) and waits for them.
func (c *Consumer) finish(wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(c.o.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		c.log.Warn("cancelling in-flight commands after the shutdown grace", "grace", c.o.ShutdownGrace)
		c.execCancel()
		<-done
	}
}

// readyFlushTimeout bounds the round trip that confirms the service's
// subscriptions at start.
const readyFlushTimeout = 5 * time.Second

// Ready is closed once Run has set up the streams and both transports take
// work, the service's subscriptions confirmed by the server (for readiness
// checks and tests).
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// acquire takes a slot of the shared semaphore.
func (c *Consumer) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Consumer) releaseSlot() { <-c.sem }

// record counts one executed (or answered) command.
func (c *Consumer) record(command, transport, outcome string, d time.Duration) {
	if c.m == nil {
		return
	}
	c.m.Commands.WithLabelValues(command, transport, outcome).Inc()
	if d > 0 {
		c.m.CommandDuration.WithLabelValues(command).Observe(d.Seconds())
	}
}

// countDrops keeps auth0_worker_commands_dropped_total current while the
// service runs (nats.go reports only the first drop of an episode).
func (c *Consumer) countDrops(ctx context.Context) {
	defer c.drops.total()
	tick.Every(ctx, time.Second, time.Second, func() bool {
		c.drops.total()
		return true
	})
}
