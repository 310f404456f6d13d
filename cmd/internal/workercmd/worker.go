package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/consumer"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/httpserver"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/tracing"
	"github.com/auth0-worker/auth0-worker/poller"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// shutdownBudget is README "Operations"'s "exits 0 within 10 s", less a margin for the
// process to tear down after the components returned.
const shutdownBudget = 9 * time.Second

// runWorker is `run`, `poll` and `serve`.
func runWorker(ctx context.Context, mode string, args []string, stderr io.Writer) error {
	cfg, err := config.FromEnv(args, config.NeedFor(mode))
	if errors.Is(err, config.ErrHelp) {
		config.Usage(stderr)
		return nil
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log := NewLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.NoColor)
	return serveWorker(ctx, cfg, mode, log, nil)
}

// worker holds the process's connections and components.
type worker struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	client  *auth0.Client
	nc      *nats.Conn
	js      jetstream.JetStream
	rdb     redis.UniversalClient
	http    *httpserver.Server
	names   publisher.Names
	keys    rediskeys.Keys
	// tp is the tracer provider (internal/tracing); nil = tracing off.
	// flushTraces exports what is still batched, at shutdown.
	tp          trace.TracerProvider
	flushTraces func(context.Context) error
}

// serveWorker connects everything for mode ("run", "poll" or "serve"), runs
// until ctx ends, then shuts down (README "Operations"): stop taking work, finish or
// nak in-flight commands, flush publishes, release the lease, drain NATS.
// started, if set, is called once everything runs (dev uses it).
func serveWorker(ctx context.Context, cfg *config.Config, mode string, log *slog.Logger, started func(*worker)) error {
	log.Info("starting auth0-worker", "version", version, "mode", mode, "config", cfg.String())
	connect.SetRedisLogger(log) // go-redis logs through one process-wide logger
	w := &worker{cfg: cfg, log: log, metrics: metrics.New(),
		names: publisher.NamesFor(cfg.NATS.SubjectPrefix),
		keys:  rediskeys.Keys{Prefix: cfg.Redis.KeyPrefix, Tenant: cfg.Auth0.TenantKey}}
	defer w.close()
	var err error
	if w.tp, w.flushTraces, err = tracing.Setup(log, "auth0-worker", version); err != nil {
		return &exitError{code: 2, err: err}
	}
	if w.tp != nil {
		log.Info("tracing on: OTLP exporter from OTEL_EXPORTER_OTLP_* variables")
	}
	if err := w.connect(ctx); err != nil {
		return err
	}
	rs, err := w.components(mode)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	go w.warmToken(ctx)
	return w.run(ctx, mode, rs, started)
}

// connect builds the Auth0 client, the NATS connection and its streams, the
// Redis client and the HTTP server, in that order; close undoes it.
func (w *worker) connect(ctx context.Context) error {
	var err error
	w.client, err = newAuth0Client(w.cfg, w.metrics, w.log.With("component", "auth0"), w.tp)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("auth0 client: %w", err)}
	}
	w.nc, err = connect.NATS(connect.NATSFromConfig(w.cfg), "auth0-worker", w.log)
	if err != nil {
		return err
	}
	if err := w.ensureStreams(ctx); err != nil {
		return err
	}
	w.rdb, err = connect.Redis(connect.RedisFromConfig(w.cfg))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	w.http = httpserver.New(w.cfg.HTTPAddr, w.metrics.Registry, map[string]httpserver.Check{
		"nats":  httpserver.NATSCheck(w.nc),
		"redis": httpserver.RedisCheck(w.rdb),
		"auth0": httpserver.Auth0Check(w.client),
	}, w.log.With("component", "http"))
	if err := w.http.Start(); err != nil {
		return fmt.Errorf("http %s: %w", w.cfg.HTTPAddr, err)
	}
	return nil
}

// close closes what connect opened (the NATS connection is drained before, at shutdown).
func (w *worker) close() {
	if w.rdb != nil {
		_ = w.rdb.Close()
	}
	if w.nc != nil {
		w.nc.Close()
	}
}

func (w *worker) pubOpts() publisher.Options {
	return publisher.Options{Names: w.names, Source: w.cfg.Events.Source, EventFields: w.cfg.Events.Fields, Logger: w.log.With("component", "publisher"),
		TracerProvider: w.tp}
}

func (w *worker) streamOpts() publisher.StreamOptions {
	return publisher.StreamOptions{Replicas: w.cfg.NATS.StreamReplicas, MaxAge: w.cfg.Events.MaxAge, DLQMaxAge: w.cfg.Command.DLQMaxAge}
}

// ensureStreams opens JetStream and creates or updates the worker's streams.
func (w *worker) ensureStreams(ctx context.Context) error {
	var err error
	w.js, err = jetstream.New(w.nc, publisher.JetStreamOpts(w.pubOpts())...)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = publisher.EnsureAll(sctx, w.js, w.names, w.streamOpts(), w.log)
	if errors.Is(err, publisher.ErrSubjectClash) {
		return &exitError{code: 2, err: err}
	}
	if err != nil {
		return fmt.Errorf("jetstream streams: %w", err)
	}
	return nil
}

// runners are the components of one mode: each runs until its context ends.
type runners struct {
	run   []func(context.Context) error
	ready <-chan struct{} // closed once the command transports take work; nil without them
}

func (w *worker) components(mode string) (runners, error) {
	var rs runners
	if mode == "run" || mode == "poll" {
		p, err := w.newPoller(w.pubOpts())
		if err != nil {
			return rs, err
		}
		rs.run = append(rs.run, p.Run)
	}
	if mode == "run" || mode == "serve" {
		c, err := consumer.New(consumer.Options{
			Client: w.client, NC: w.nc, JS: w.js, Redis: w.rdb, Keys: w.keys, Names: w.names,
			BaseURL: w.cfg.Auth0.BaseURL, Concurrency: w.cfg.Command.Concurrency, Timeout: w.cfg.Command.Timeout,
			MaxDeliver: w.cfg.Command.MaxDeliver, StreamOptions: w.streamOpts(), Metrics: w.metrics,
			Logger: w.log, Version: version, TracerProvider: w.tp,
		})
		if err != nil {
			return rs, err
		}
		rs.run = append(rs.run, c.Run)
		rs.ready = c.Ready()
	}
	return rs, nil
}

// warmToken fetches the token so /readyz turns green without waiting for
// traffic; a failure is logged, not fatal (Auth0 may be briefly unreachable).
func (w *worker) warmToken(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.client.EnsureToken(tctx); err != nil && ctx.Err() == nil {
		w.log.Error("auth0 token", "err", err)
	}
}

// run runs the components in one errgroup until ctx ends or one of them
// fails (that cancels the others), then shuts down. The components get their
// own context, not ctx: they stop when run says so, in order.
func (w *worker) run(ctx context.Context, mode string, rs runners, started func(*worker)) error {
	runCtx, stopRunners := context.WithCancel(context.Background())
	defer stopRunners()
	g, gctx := errgroup.WithContext(runCtx)
	for _, run := range rs.run {
		g.Go(func() error {
			if err := run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	runErr := w.wait(ctx, gctx, rs.ready, func() {
		if started != nil {
			started(w)
		}
		w.log.Info("auth0-worker running", "mode", mode, "http", w.http.Addr(), "subject_prefix", w.names.Prefix)
	})
	if runErr != nil {
		w.log.Error("component failed; shutting down", "err", runErr)
	} else {
		w.log.Info("shutting down: stop taking work, finish in-flight commands, flush publishes, release the lease")
	}
	deadline := time.Now().Add(shutdownBudget)
	stopRunners()
	w.stop(g, deadline)
	return runErr
}

// wait returns when ctx ends (nil) or a component fails (its error: gctx
// ends only so, with the error as its cause). Once ready is closed (at once
// when nil) and neither happened, running is called.
func (w *worker) wait(ctx, gctx context.Context, ready <-chan struct{}, running func()) error {
	if ready != nil { // the command transports take work: announce only then
		select {
		case <-ready:
		case <-gctx.Done():
		case <-ctx.Done():
		}
	}
	if gctx.Err() == nil && ctx.Err() == nil {
		running()
		select {
		case <-ctx.Done():
		case <-gctx.Done():
		}
	}
	if gctx.Err() != nil {
		return context.Cause(gctx)
	}
	return nil
}

// stop waits for the components until a second before deadline, then stops
// the HTTP server and drains NATS by deadline.
func (w *worker) stop(g *errgroup.Group, deadline time.Time) {
	done := make(chan struct{})
	go func() { _ = g.Wait(); close(done) }() // errors after the shutdown began are the components' to log
	select {
	case <-done:
	case <-time.After(time.Until(deadline) - time.Second):
		w.log.Warn("components did not stop in time; exiting anyway")
	}
	hctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = w.http.Shutdown(hctx)
	drainNATS(hctx, w.nc, w.log)
	if err := w.flushTraces(hctx); err != nil {
		w.log.Warn("traces not flushed", "err", err)
	}
	w.log.Info("auth0-worker stopped")
}

func (w *worker) newPoller(pubOpts publisher.Options) (*poller.Poller, error) {
	pub, err := publisher.New(w.js, pubOpts)
	if err != nil {
		return nil, err
	}
	o := pollOptions(w.cfg.Poll, w.cfg.Events.Types, w.cfg.Webhook)
	o.Searcher, o.Events, o.Publisher = w.client, w.client, pub
	o.Dedupe, o.Redis, o.Keys = dedupe.NewRedis(w.rdb, w.keys, w.cfg.Poll.DedupeTTL), w.rdb, w.keys
	o.Metrics, o.Logger, o.TracerProvider = w.metrics, w.log.With("component", "poller"), w.tp
	return poller.New(o)
}

// pollOptions maps POLL_*, RECONCILE_INTERVAL, LEASE_TTL, EVENT_TYPES and
// WEBHOOK_* to the poller's typed options. Config's zero durations mean
// "none"/"off"; the poller's zero means its default, hence the two flags.
func pollOptions(c config.Poll, types []string, wh config.Webhook) poller.Options {
	return poller.Options{
		Source: string(c.Source), Query: c.Query, Limit: c.Limit, Interval: c.Interval,
		Overlap: c.Overlap, NoOverlap: c.Overlap == 0,
		Start: c.Start, ReconcileInterval: c.ReconcileInterval, ReconcileOff: c.ReconcileInterval == 0,
		LeaseTTL: c.LeaseTTL, Types: types, Webhook: webhookOptions(wh),
	}
}

// webhookOptions maps WEBHOOK_* to the receiver's options (README "User
// life cycle"); the receiver's limits keep their poller defaults.
func webhookOptions(c config.Webhook) poller.WebhookOptions {
	return poller.WebhookOptions{
		Addr: c.Addr, BearerToken: c.BearerToken.Reveal(), BasicUser: c.BasicUser, BasicPassword: c.BasicPassword.Reveal(),
		TLSCert: c.TLSCert, TLSKey: c.TLSKey,
	}
}
