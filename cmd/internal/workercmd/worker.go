package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/consumer"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/httpserver"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
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

	var err error
	w.client, err = newAuth0Client(cfg, w.metrics, log.With("component", "auth0"))
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("auth0 client: %w", err)}
	}

	w.nc, err = connect.NATS(connect.NATSFromConfig(cfg), "auth0-worker", log)
	if err != nil {
		return err
	}
	defer w.nc.Close()
	pubOpts := publisher.Options{Names: w.names, Source: cfg.Events.Source, EventFields: cfg.Events.Fields, Logger: log.With("component", "publisher")}
	w.js, err = jetstream.New(w.nc, publisher.JetStreamOpts(pubOpts)...)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	streamOpts := publisher.StreamOptions{Replicas: cfg.NATS.StreamReplicas, MaxAge: cfg.Events.MaxAge, DLQMaxAge: cfg.Command.DLQMaxAge}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = publisher.EnsureAll(sctx, w.js, w.names, streamOpts, log)
	cancel()
	if errors.Is(err, publisher.ErrSubjectClash) {
		return &exitError{code: 2, err: err}
	}
	if err != nil {
		return fmt.Errorf("jetstream streams: %w", err)
	}

	w.rdb, err = connect.Redis(connect.RedisFromConfig(cfg))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer w.rdb.Close()

	w.http = httpserver.New(cfg.HTTPAddr, w.metrics.Registry, map[string]httpserver.Check{
		"nats":  httpserver.NATSCheck(w.nc),
		"redis": httpserver.RedisCheck(w.rdb),
		"auth0": httpserver.Auth0Check(w.client),
	}, log.With("component", "http"))
	if err := w.http.Start(); err != nil {
		return fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}

	var runners []func(context.Context) error
	var ready <-chan struct{}
	if mode == "run" || mode == "poll" {
		p, err := w.newPoller(pubOpts)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		runners = append(runners, p.Run)
	}
	if mode == "run" || mode == "serve" {
		c, err := consumer.New(consumer.Options{
			Client: w.client, NC: w.nc, JS: w.js, Redis: w.rdb, Keys: w.keys, Names: w.names,
			BaseURL: cfg.Auth0.BaseURL, Concurrency: cfg.Command.Concurrency, Timeout: cfg.Command.Timeout,
			MaxDeliver: cfg.Command.MaxDeliver, StreamOptions: streamOpts, Metrics: w.metrics,
			Logger: log, Version: version,
		})
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		runners = append(runners, c.Run)
		ready = c.Ready()
	}

	// Warm the token so /readyz turns green without waiting for traffic; a
	// failure here is logged, not fatal (Auth0 may be briefly unreachable).
	go func() {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := w.client.EnsureToken(tctx); err != nil && ctx.Err() == nil {
			log.Error("auth0 token", "err", err)
		}
	}()

	runCtx, stopRunners := context.WithCancel(context.Background())
	defer stopRunners()
	errc := make(chan error, len(runners))
	var wg sync.WaitGroup
	for _, run := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		}()
	}
	var runErr error
	if ready != nil { // the command transports take work: announce only then
		select {
		case <-ready:
		case runErr = <-errc:
		case <-ctx.Done():
		}
	}
	if runErr == nil && ctx.Err() == nil {
		if started != nil {
			started(w)
		}
		log.Info("auth0-worker running", "mode", mode, "http", w.http.Addr(), "subject_prefix", w.names.Prefix)
		select {
		case <-ctx.Done():
		case runErr = <-errc:
		}
	}
	if runErr != nil {
		log.Error("component failed; shutting down", "err", runErr)
	} else {
		log.Info("shutting down: stop taking work, finish in-flight commands, flush publishes, release the lease")
	}
	deadline := time.Now().Add(shutdownBudget)
	stopRunners()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) - time.Second):
		log.Warn("components did not stop in time; exiting anyway")
	}
	hctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = w.http.Shutdown(hctx)
	drainNATS(hctx, w.nc, log)
	log.Info("auth0-worker stopped")
	return runErr
}

func (w *worker) newPoller(pubOpts publisher.Options) (*poller.Poller, error) {
	pub, err := publisher.New(w.js, pubOpts)
	if err != nil {
		return nil, err
	}
	reconcile := w.cfg.Poll.ReconcileInterval
	if reconcile == 0 {
		reconcile = -1 // RECONCILE_INTERVAL=0 means off; the poller's zero means default
	}
	return poller.New(poller.Options{
		Searcher: w.client, Events: w.client, Publisher: pub,
		Dedupe: dedupe.NewRedis(w.rdb, w.keys, w.cfg.Poll.DedupeTTL), Redis: w.rdb, Keys: w.keys,
		Source: string(w.cfg.Poll.Source), Query: w.cfg.Poll.Query, Limit: w.cfg.Poll.Limit,
		Interval: w.cfg.Poll.Interval, Overlap: w.cfg.Poll.Overlap, Start: w.cfg.Poll.Start.String(),
		ReconcileInterval: reconcile, LeaseTTL: w.cfg.Poll.LeaseTTL,
		Metrics: w.metrics, Logger: w.log.With("component", "poller"),
	})
}
